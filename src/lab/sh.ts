/** Running helper commands (ip, ping, kill) for the lab; never a shell string. */
import { execFile } from 'node:child_process'

export interface ShResult {
  code: number
  stdout: string
  stderr: string
}

export function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<ShResult> {
  const timeout = opts.timeoutMs ?? 30_000
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { encoding: 'utf8', timeout, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as NodeJS.ErrnoException).code === 'number' ? Number((error as NodeJS.ErrnoException).code) : (error as { status?: number }).status ?? 1) : 0
      const killed = (error as { killed?: boolean } | null)?.killed === true
      resolve({ code: error && code === 0 ? 1 : code, stdout, stderr: killed ? `${stderr}\n(killed: no answer within ${timeout / 1000} s)` : stderr })
    })
    if (opts.input !== undefined) child.stdin?.end(opts.input)
  })
}

/** Runs a command and throws with its stderr when it fails. */
export async function must(cmd: string, args: string[], input?: string, timeoutMs?: number): Promise<string> {
  const r = await run(cmd, args, { input, timeoutMs })
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`)
  return r.stdout
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/** Polls `check` until it returns a value (not undefined) or the timeout passes. */
export async function waitFor<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, intervalMs = 100): Promise<T | undefined> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v !== undefined) return v
    if (Date.now() >= end) return undefined
    await sleep(intervalMs)
  }
}
