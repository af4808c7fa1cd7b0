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
  /**
   * A repeated warning: logged at most once per interval (default 10 s) per
   * `event` and `key` (e.g. the sender's address); the next line logged for
   * the pair carries `suppressed: N`, the count of lines left out since.
   */
  limited(level: Level, event: string, key: string, fields?: Record<string, unknown>): void
  /** a logger that adds fields to every line */
  child(fields: Record<string, unknown>): Logger
}

/** Rate-limit state shared by a logger and its children. */
export interface RateLimitOptions {
  /** ms between two lines of one event and key (default 10 000) */
  intervalMs?: number
  /** most (event, key) pairs remembered; the oldest is forgotten first (default 4096) */
  maxKeys?: number
  now?: () => number
}

/**
 * Decides which of a stream of repeated events is logged. Bounded: it
 * remembers at most `maxKeys` pairs, so a flood from many addresses cannot
 * grow it.
 */
export class RateLimiter {
  private readonly seen = new Map<string, { last: number; suppressed: number }>()
  private readonly intervalMs: number
  private readonly maxKeys: number
  private readonly now: () => number

  constructor(opts: RateLimitOptions = {}) {
    this.intervalMs = opts.intervalMs ?? 10_000
    this.maxKeys = opts.maxKeys ?? 4096
    this.now = opts.now ?? Date.now
  }

  /** undefined: leave this line out; else the count of lines left out before it */
  admit(id: string): number | undefined {
    const t = this.now()
    const e = this.seen.get(id)
    if (e && t - e.last < this.intervalMs) {
      e.suppressed++
      return undefined
    }
    const suppressed = e?.suppressed ?? 0
    this.seen.delete(id) // re-insert: the map's order is least recently logged first
    this.seen.set(id, { last: t, suppressed: 0 })
    if (this.seen.size > this.maxKeys) {
      const oldest = this.seen.keys().next().value
      if (oldest !== undefined) this.seen.delete(oldest)
    }
    return suppressed
  }
}

export interface LoggerOptions {
  level: Level
  /** 'json' | 'human'; default: human on a TTY, else json */
  format?: 'json' | 'human'
  /** write to this stream instead of stdout */
  stream?: NodeJS.WritableStream
  /** called for every event at info or above, whatever the level (for the control API's event stream), and for debug ones when logged */
  tap?: (level: Level, event: string, fields: Record<string, unknown>) => void
  /** for `limited()` lines */
  rateLimit?: RateLimitOptions
}

export function createLogger(opts: LoggerOptions): Logger {
  const stream = opts.stream ?? process.stdout
  const human = (opts.format ?? ((stream as NodeJS.WriteStream).isTTY ? 'human' : 'json')) === 'human'
  const min = LEVELS.indexOf(opts.level)
  const base = human ? undefined : pino({ level: opts.level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime, messageKey: 'event' }, stream as never)
  const limiter = new RateLimiter(opts.rateLimit)
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
      limited: (level, event, key, fields = {}) => {
        const suppressed = limiter.admit(`${event}\u0000${key}`)
        if (suppressed === undefined) return
        log(level, event, suppressed > 0 ? { ...fields, suppressed } : fields)
      },
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
