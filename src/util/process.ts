/**
 * The one way fabric runs a helper program (ip, iptables-save, systemctl, ...)
 * and the one way it polls: never a shell string, never a synchronous child
 * process (the event loop drives BGP/RIP timers), output bounded, time bounded.
 */
import { spawn } from 'node:child_process'

export interface RunOptions {
  /** written to the program's stdin, which is then closed; without it stdin is /dev/null */
  input?: string
  /** the program is sent SIGTERM after this many ms (SIGKILL 2 s later); default 30 s */
  timeoutMs?: number
  /** variables added to (or replacing those of) this process's environment */
  env?: Record<string, string | undefined>
  /** bytes kept of stdout and of stderr each; the rest is read and dropped (default 64 MiB) */
  maxOutput?: number
}

export interface RunResult {
  /** the exit code; 127 when the program could not be started, 1 when a signal ended it */
  code: number
  stdout: string
  stderr: string
  /** true when the timeout ended the program */
  timedOut: boolean
  /** true when stdout or stderr was longer than maxOutput and was cut */
  truncated: boolean
}

export const DEFAULT_RUN_TIMEOUT_MS = 30_000
export const DEFAULT_MAX_OUTPUT = 64 << 20
const KILL_GRACE_MS = 2_000

/** A bounded collector of one output stream. */
function collector(max: number): { push(b: Buffer): void; text(): string; cut: () => boolean } {
  const chunks: Buffer[] = []
  let size = 0
  let cut = false
  return {
    push(b) {
      if (size >= max) {
        cut = true
        return
      }
      const room = max - size
      const part = b.length > room ? b.subarray(0, room) : b
      if (part.length < b.length) cut = true
      chunks.push(part)
      size += part.length
    },
    text: () => Buffer.concat(chunks).toString('utf8'),
    cut: () => cut,
  }
}

/**
 * Runs `cmd` with `args` and resolves (never rejects) with its exit code and
 * output once it has ended and its output is read.
 */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_RUN_TIMEOUT_MS
  const max = opts.maxOutput ?? DEFAULT_MAX_OUTPUT
  return new Promise((resolve) => {
    const out = collector(max)
    const err = collector(max)
    let timedOut = false
    let spawnError: Error | undefined
    let done = false
    let killTimer: NodeJS.Timeout | undefined
    let giveUpTimer: NodeJS.Timeout | undefined
    const child = spawn(cmd, [...args], {
      stdio: [opts.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
    })
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      clearTimeout(killTimer)
      clearTimeout(giveUpTimer)
      let stderr = err.text()
      if (spawnError) stderr = stderr || spawnError.message
      if (timedOut) stderr = `${stderr}${stderr && !stderr.endsWith('\n') ? '\n' : ''}(killed: no answer within ${timeoutMs / 1000} s)`
      const exit = spawnError ? ((spawnError as NodeJS.ErrnoException).code === 'ENOENT' ? 127 : 126) : code ?? (signal ? 1 : 0)
      resolve({ code: timedOut && exit === 0 ? 1 : exit, stdout: out.text(), stderr, timedOut, truncated: out.cut() || err.cut() })
    }
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGTERM')
      killTimer = setTimeout(() => {
        child.kill('SIGKILL')
        // a grandchild may hold the pipes open after the child died: stop waiting for them
        giveUpTimer = setTimeout(() => {
          child.stdout?.destroy()
          child.stderr?.destroy()
          finish(null, 'SIGKILL')
        }, KILL_GRACE_MS)
      }, KILL_GRACE_MS)
    }, timeoutMs)
    child.stdout?.on('data', (b: Buffer) => out.push(b))
    child.stderr?.on('data', (b: Buffer) => err.push(b))
    child.on('error', (e) => {
      // spawn failures (ENOENT, EACCES) come here and are followed by 'close'
      spawnError = e
    })
    child.on('close', (code, signal) => finish(code, signal))
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on('error', () => {}) // EPIPE when the program exits without reading
      child.stdin.end(opts.input)
    }
  })
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

export interface WaitOptions {
  timeoutMs: number
  /** ms between checks; default 100 */
  intervalMs?: number
}

/**
 * Polls `check` until it returns a value other than undefined (resolved with
 * it) or the timeout passes (resolved with undefined). `check` runs at least
 * once, and once more at the deadline. The second argument may also be the
 * timeout in ms, with the interval as a third (the lab's form).
 */
export async function waitFor<T>(check: () => Promise<T | undefined> | T | undefined, opts: WaitOptions | number, intervalMs?: number): Promise<T | undefined> {
  const timeoutMs = typeof opts === 'number' ? opts : opts.timeoutMs
  const interval = (typeof opts === 'number' ? intervalMs : opts.intervalMs) ?? 100
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v !== undefined) return v
    const left = end - Date.now()
    if (left <= 0) return undefined
    await sleep(Math.min(interval, left))
  }
}
