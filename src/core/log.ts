/**
 * Structured logs: one line per event. JSON (pino) by default; a short
 * human-readable line when stdout is a terminal. Every event has a name
 * (route-added, session-up, ...) and flat fields.
 */
import { pino } from 'pino'

export type Level = 'debug' | 'info' | 'warn' | 'error'
export const LEVELS: readonly Level[] = ['debug', 'info', 'warn', 'error']

export interface Logger {
  log(level: Level, event: string, fields?: Record<string, unknown>): void
  debug(event: string, fields?: Record<string, unknown>): void
  info(event: string, fields?: Record<string, unknown>): void
  warn(event: string, fields?: Record<string, unknown>): void
  error(event: string, fields?: Record<string, unknown>): void
  /** a logger that adds fields to every line */
  child(fields: Record<string, unknown>): Logger
}

export interface LoggerOptions {
  level: Level
  /** 'json' | 'human'; default: human on a TTY, else json */
  format?: 'json' | 'human'
  /** write to this stream instead of stdout */
  stream?: NodeJS.WritableStream
  /** called for every event at info or above, whatever the level (for the control API's event stream), and for debug ones when logged */
  tap?: (level: Level, event: string, fields: Record<string, unknown>) => void
}

export function createLogger(opts: LoggerOptions): Logger {
  const stream = opts.stream ?? process.stdout
  const human = (opts.format ?? ((stream as NodeJS.WriteStream).isTTY ? 'human' : 'json')) === 'human'
  const min = LEVELS.indexOf(opts.level)
  const base = human ? undefined : pino({ level: opts.level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime, messageKey: 'event' }, stream as never)
  const make = (bound: Record<string, unknown>): Logger => {
    const log = (level: Level, event: string, fields: Record<string, unknown> = {}): void => {
      const rank = LEVELS.indexOf(level)
      if (rank < min && (rank < 1 || !opts.tap)) return
      const all = { ...bound, ...fields }
      opts.tap?.(level, event, all)
      if (rank < min) return
      if (base) base[level](all, event)
      else stream.write(humanLine(level, event, all))
    }
    return {
      log,
      debug: (e, f) => log('debug', e, f),
      info: (e, f) => log('info', e, f),
      warn: (e, f) => log('warn', e, f),
      error: (e, f) => log('error', e, f),
      child: (fields) => make({ ...bound, ...fields }),
    }
  }
  return make({})
}

function humanLine(level: Level, event: string, fields: Record<string, unknown>): string {
  const time = new Date().toISOString().slice(11, 19)
  const kv = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ')
  return `${time} ${level.toUpperCase().padEnd(5)} ${event}${kv ? ` ${kv}` : ''}\n`
}
