/**
 * Running a helper program (ip, iptables, ping) for doctor's checks: never a
 * shell string, bounded in time. The same signature as util/process.ts
 * `run` (the host helper's process runner); the integrator points doctor at
 * that one and removes this file.
 */
import { execFile } from 'node:child_process'

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

export function run(cmd: string, args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<RunResult> {
  const timeout = opts.timeoutMs ?? 30_000
  return new Promise((resolve) => {
    execFile(cmd, [...args], { encoding: 'utf8', timeout, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (!error) return resolve({ code: 0, stdout, stderr })
      // execFile's error carries the exit code as a number, or an errno string when the program did not start
      const e = error as { code?: number | string; killed?: boolean }
      const code: number = typeof e.code === 'number' ? e.code : e.code === 'ENOENT' ? 127 : 1
      resolve({ code: code === 0 ? 1 : code, stdout: stdout ?? '', stderr: e.killed ? `${stderr}\n(killed: no answer within ${timeout / 1000} s)` : stderr ?? '' })
    })
  })
}
