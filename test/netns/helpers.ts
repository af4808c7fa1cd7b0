/** Helpers for lab tests: unique names, `ip` in a namespace, polling, the CLI. */
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { ExecutionContext } from 'ava'
import { type LabSpec, type LabUpOptions, labDown, labUp } from '../../src/lab/lab.js'
import { run, waitFor } from '../../src/lab/sh.js'
import { LOG_FLUSH_GAP_MS } from '../../src/core/log.js'

export { run, waitFor }

const fabricBin = fileURLToPath(new URL('../../bin/fabric.js', import.meta.url))

let counter = 0
/** A lab name unique to this run and test: letter + pid + counter (<= 12 chars). */
export function uniqueName(tag: string): string {
  counter++
  return `${tag.slice(0, 2)}${process.pid % 100000}${counter}`.slice(0, 12)
}

/** Brings a lab up and registers its removal, also when the test fails. */
export async function withLab(t: ExecutionContext, opts: Omit<LabUpOptions, 'name'> & { tag: string }): Promise<LabSpec> {
  const name = uniqueName(opts.tag)
  t.teardown(async () => {
    await labDown(name)
  })
  return labUp({ ...opts, name })
}

export interface IpRoute {
  dst: string
  gateway?: string
  dev?: string
  protocol?: string
  metric?: number
  type?: string
}

export async function routesIn(ns: string, ...filter: string[]): Promise<IpRoute[]> {
  const r = await run('ip', ['-n', ns, '-j', 'route', 'show', ...filter])
  if (r.code !== 0) throw new Error(r.stderr)
  return JSON.parse(r.stdout || '[]') as IpRoute[]
}

export async function fabricRoutes(ns: string, proto = '233'): Promise<string[]> {
  return (await routesIn(ns, 'proto', proto)).map((r) => `${r.dst} via ${r.gateway}`).sort()
}

export async function ip(ns: string, ...args: string[]): Promise<string> {
  const r = await run('ip', ['-n', ns, ...args])
  if (r.code !== 0) throw new Error(`ip -n ${ns} ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

/** Runs the fabric CLI (optionally inside a namespace); returns exit code and output. */
export function fabric(args: string[], ns?: string, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = ns ? ['netns', 'exec', ns, process.execPath, fabricBin, ...args] : [fabricBin, ...args]
  const cmd = ns ? 'ip' : process.execPath
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }))
  })
}

/** Polls until fabric's routes in ns equal `expected` (sorted "dst via gw"). */
export async function waitRoutes(ns: string, expected: string[], timeoutMs = 10_000): Promise<string[]> {
  let last: string[] = []
  await waitFor(async () => {
    last = await fabricRoutes(ns)
    return JSON.stringify(last) === JSON.stringify([...expected].sort()) ? true : undefined
  }, timeoutMs, 100)
  return last
}

export type LogLine = Record<string, unknown> & { event: string; level: number }

/** blocks the calling thread for ms (a test helper's synchronous pause) */
function pauseSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/**
 * Waits until the log file has not grown for LOG_SETTLE_MS (at most
 * LOG_SETTLE_MAX_MS): an agent writes its lines up to LOG_FLUSH_GAP_MS after
 * logging them (core/log.ts), so a test that has just seen an effect in the
 * kernel reads the line logged before it only after that.
 */
function settleLog(file: string): void {
  const size = () => (existsSync(file) ? statSync(file).size : -1)
  const end = Date.now() + LOG_SETTLE_MAX_MS
  let last = size()
  let stableSince = Date.now()
  while (Date.now() < end) {
    pauseSync(LOG_FLUSH_GAP_MS)
    const now = size()
    if (now !== last) {
      last = now
      stableSince = Date.now()
    } else if (Date.now() - stableSince >= LOG_SETTLE_MS) return
  }
}

/** the log has not grown for this long: what was logged before has been written (5x the flush gap: a late timer under load) */
const LOG_SETTLE_MS = 5 * LOG_FLUSH_GAP_MS
const LOG_SETTLE_MAX_MS = 500

/** The agent's JSON log lines with the given event name (once its log has settled: settleLog). */
export function logEvents(file: string, event: string): LogLine[] {
  settleLog(file)
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => {
    try {
      return JSON.parse(l) as LogLine
    } catch {
      return undefined
    }
  }).filter((l): l is LogLine => l !== undefined && l.event === event)
}
