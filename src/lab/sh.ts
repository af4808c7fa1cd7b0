/**
 * Running helper commands (ip, ping, kill) for the lab: the one process
 * runner and polling helper of util/process.ts, plus `must`.
 */
import { type RunResult, run } from '../util/process.js'

export { run, sleep, waitFor } from '../util/process.js'

export type ShResult = RunResult

/** Runs a command and throws with its stderr when it fails. */
export async function must(cmd: string, args: string[], input?: string, timeoutMs?: number): Promise<string> {
  const r = await run(cmd, args, { input, timeoutMs })
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`)
  return r.stdout
}
