/**
 * Structured logs: one line per event. JSON lines by default; a short
 * human-readable line when stdout is a terminal. Every event has a name
 * (route-added, session-up, ...) and flat fields.
 *
 * The JSON line is pino's format (the agent used pino before; a hand-written
 * writer saves ~8 MB of RSS in an agent that is otherwise idle):
 *   {"level":30,"time":"2026-11-22T08:00:00.000Z","pid":42,...fields,"event":"route-added"}
 * level 20 debug, 30 info, 40 warn, 50 error.
 *
 * To stdout (the agent's log), lines are gathered and written together:
 * a reflector bringing up a thousand sessions logs a thousand session-up
 * lines in a second, and stdout to a file is a synchronous write(2) per
 * write. A line after a quiet spell goes out at the end of its turn of the
 * event loop (setImmediate); while lines keep coming, at most one write per
 * LOG_FLUSH_GAP_MS (10 ms) or when 64 KiB are waiting; and synchronously
 * when the process exits (process.exit, the loop ending, a signal handler
 * that exits) or before an uncaught exception is reported. Order is kept;
 * a SIGKILL loses at most the last 10 ms of lines.
 */
import { isoTime } from '../util/time.js'

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
  /** writes the lines gathered so far now (a buffered logger; others write each line at once) */
  flush?(): void
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
  /**
   * gather lines and write them together (see the top of this file);
   * default: when writing to stdout (no `stream` given)
   */
  buffer?: boolean
}

/** lines waiting in a buffered logger beyond this are written at once */
export const LOG_BUFFER_BYTES = 64 * 1024
/** while lines keep coming, a buffered logger writes at most once per this many ms */
export const LOG_FLUSH_GAP_MS = 10

/** Runs fn after ms (0: at the end of this turn of the event loop); never keeps the process alive. */
function laterUnref(fn: () => void, ms: number): void {
  if (ms <= 0) setImmediate(fn).unref()
  else setTimeout(fn, ms).unref()
}

/**
 * The lines a buffered logger has not written yet, in order. One write per
 * flush. When the first line comes in, a flush is scheduled: at the end of
 * the current turn of the event loop after a quiet spell, else gapMs after
 * the last write; past maxBytes it happens at once.
 */
export class LineBuffer {
  private text = ''
  private scheduled = false
  private lastWrite = Number.NEGATIVE_INFINITY
  private readonly flushNow = (): void => this.flush()

  constructor(
    private readonly stream: NodeJS.WritableStream,
    private readonly maxBytes = LOG_BUFFER_BYTES,
    private readonly schedule: (fn: () => void, ms: number) => void = laterUnref,
    private readonly gapMs = LOG_FLUSH_GAP_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  write(line: string): void {
    this.text += line
    if (this.text.length >= this.maxBytes) this.flush()
    else if (!this.scheduled) {
      this.scheduled = true
      this.schedule(this.flushNow, Math.max(0, this.lastWrite + this.gapMs - this.now()))
    }
  }

  /** Writes what is waiting (one write); nothing thrown by the stream leaves it. */
  flush(): void {
    this.scheduled = false
    const t = this.text
    if (t === '') return
    this.text = ''
    this.lastWrite = this.now()
    try {
      this.stream.write(t)
    } catch {
      // a closed stdout (EPIPE): the lines have nowhere to go
    }
  }

  /** characters waiting */
  get pending(): number {
    return this.text.length
  }
}

/** The rank of each level (LEVELS order). */
const RANK: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 }

export function createLogger(opts: LoggerOptions): Logger {
  const stream = opts.stream ?? process.stdout
  const human = (opts.format ?? ((stream as NodeJS.WriteStream).isTTY ? 'human' : 'json')) === 'human'
  const min = RANK[opts.level]
  const limiter = new RateLimiter(opts.rateLimit)
  const buffer = (opts.buffer ?? opts.stream === undefined) ? new LineBuffer(stream) : undefined
  if (buffer) {
    // whatever way the process ends, the lines gathered so far are written first (synchronously:
    // stdout to a file, a pipe or a terminal is written synchronously on Linux)
    process.on('exit', () => buffer.flush())
    process.on('uncaughtExceptionMonitor', () => buffer.flush())
  }
  const write = buffer ? (line: string) => buffer.write(line) : (line: string) => { stream.write(line) }
  const json = jsonFormatter()
  const make = (bound: Record<string, unknown>): Logger => {
    const hasBound = Object.keys(bound).length > 0
    const log = (level: Level, event: string, fields: Record<string, unknown> = {}): void => {
      const rank = RANK[level]
      if (rank < min && (rank < 1 || !opts.tap)) return
      // the caller's object as it is when no fields are bound (it is not kept nor changed)
      const all = hasBound ? { ...bound, ...fields } : fields
      opts.tap?.(level, event, all)
      if (rank < min) return
      write(human ? humanLine(level, event, all) : json(level, event, all, Date.now()))
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
      ...(buffer ? { flush: () => buffer.flush() } : {}),
    }
  }
  return make({})
}

/** most field names and event names a logger keeps quoted */
const KEYS_KEPT = 1024

/**
 * jsonLine for one logger, with what repeats kept: the time text of the last
 * millisecond (a burst logs many lines in one) and the quoted field and
 * event names (the same few dozen from the code).
 */
function jsonFormatter(): (level: Level, event: string, fields: Record<string, unknown>, time: number) => string {
  let at = Number.NaN
  let text = ''
  const quoted = new Map<string, string>()
  const quote = (k: string): string => {
    let q = quoted.get(k)
    if (q === undefined) {
      q = JSON.stringify(k)
      if (quoted.size < KEYS_KEPT) quoted.set(k, q)
    }
    return q
  }
  return (level, event, fields, time) => {
    if (time !== at) {
      text = isoTime(time)
      at = time
    }
    return formatJson(level, event, fields, text, quote)
  }
}

/** pino's numbers for the levels */
export const LEVEL_NUMBERS: Record<Level, number> = { debug: 20, info: 30, warn: 40, error: 50 }

/** One JSON line: level, time, pid, the fields in order, then the event name. */
export function jsonLine(level: Level, event: string, fields: Record<string, unknown>, time: number = Date.now()): string {
  return formatJson(level, event, fields, isoTime(time), JSON.stringify)
}

function formatJson(level: Level, event: string, fields: Record<string, unknown>, time: string, quote: (s: string) => string): string {
  let body = ''
  for (const k in fields) {
    const v = fields[k]
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue
    body += `,${quote(k)}:${jsonValue(v)}`
  }
  return `{"level":${LEVEL_NUMBERS[level]},"time":"${time}","pid":${process.pid}${body},"event":${quote(event)}}\n`
}

/** A field's value as JSON; never throws (bigint as a number string, Error as its message, a cycle as "[Circular]"). */
function jsonValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v)
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null'
  if (typeof v === 'bigint') return `"${v}"`
  if (v instanceof Error) return JSON.stringify(v.message)
  if (typeof v !== 'object' || v === null) return JSON.stringify(v) ?? 'null'
  try {
    return JSON.stringify(v, replacer)
  } catch {
    const seen = new WeakSet<object>()
    return JSON.stringify(v, (_k, x: unknown) => {
      if (typeof x === 'object' && x !== null) {
        if (seen.has(x)) return '[Circular]'
        seen.add(x)
      }
      return replacer(_k, x)
    })
  }
}

function replacer(_k: string, x: unknown): unknown {
  if (typeof x === 'bigint') return String(x)
  if (x instanceof Error) return x.message
  return x
}

function humanLine(level: Level, event: string, fields: Record<string, unknown>): string {
  const time = isoTime().slice(11, 19)
  const kv = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ')
  return `${time} ${level.toUpperCase().padEnd(5)} ${event}${kv ? ` ${kv}` : ''}\n`
}
