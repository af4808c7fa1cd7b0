/**
 * The lab: simulated fabric hosts in network namespaces on this machine.
 *
 *   NAME-sw   a "switch" namespace with bridge br0: the underlay
 *   NAME-hI   host I: eth0 on the underlay (10.99.0.(10+I)/24), a docker0
 *             bridge owning 10.244.I.1/24, and a real `fabric join`
 *   NAME-cI   a "container" of host I: eth0 10.244.I.2/24 on docker0,
 *             default route via docker0's address
 *
 * Nothing is created in the root namespace (veths are created directly in
 * their target namespaces). Everything carries the lab name, so `lab down`
 * finds and removes it all, also after a crash.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { getJson } from '../api/client.js'
import type { Mode } from '../config/fabric-config.js'
import { must, run, sleep, waitFor } from './sh.js'

export const LAB_ROOT = process.env.FABRIC_LAB_ROOT ?? '/run/fabric-lab'
const NAME = /^[a-z][a-z0-9]{0,11}$/

export interface LabHost {
  index: number
  name: string
  ns: string
  containerNs: string
  address: string
  subnet: string
  gateway: string
  containerIp: string
  dir: string
  socket: string
  log: string
}

export interface LabSpec {
  name: string
  mode: Mode
  hosts: LabHost[]
  pool: string
  underlay: string
  config: string
  created: string
  /** extra `fabric join` arguments every agent gets */
  joinArgs: string[]
  /** extra fabric.ini lines (e.g. a [bgp] or [rip] section) */
  iniExtra: string[]
}

export interface LabUpOptions {
  name: string
  hosts: number
  mode?: Mode
  joinArgs?: string[]
  /** extra fabric.ini lines appended after [fabric] (e.g. a [bgp] or [rip] section) */
  iniExtra?: string[]
  /** start the agents (default true) */
  start?: boolean
  logLevel?: string
}

export function validateLabName(name: string): void {
  if (!NAME.test(name)) throw new Error(`lab name "${name}": expected 1-12 lowercase letters/digits starting with a letter`)
}

export function labDir(name: string): string {
  return join(LAB_ROOT, name)
}

const repoRoot = fileURLToPath(new URL('../../', import.meta.url))
const fabricBin = join(repoRoot, 'bin', 'fabric.js')

function hostSpec(name: string, dir: string, i: number): LabHost {
  const h = `h${i}`
  return {
    index: i,
    name: `node${i}`,
    ns: `${name}-${h}`,
    containerNs: `${name}-c${i}`,
    address: `10.99.0.${10 + i}`,
    subnet: `10.244.${i}.0/24`,
    gateway: `10.244.${i}.1`,
    containerIp: `10.244.${i}.2`,
    dir: join(dir, h),
    socket: join(dir, h, 'fabric.sock'),
    log: join(dir, h, 'agent.log'),
  }
}

/** Lab defaults per mode: short timers so tests and the demo converge in seconds. */
export function modeDefaults(mode: Mode): string[] {
  if (mode === 'rip') return ['', '[rip]', 'update-interval = 5', 'timeout = 15', 'garbage-collection = 10', 'triggered-min = 0.2', 'triggered-max = 1']
  if (mode === 'bgp') return ['', '[bgp]', 'asn = 64512', 'hold-time = 9', 'connect-retry-time = 1']
  return []
}

export function renderLabIni(spec: Pick<LabSpec, 'pool' | 'mode' | 'hosts'>, extra: string[] = []): string {
  const lines = [
    '; written by `fabric lab up`',
    '[fabric]',
    `pool = ${spec.pool}`,
    'host-prefix = 24',
    `mode = ${spec.mode}`,
    'route-protocol = fabric',
    'reconcile-interval = 2',
    ...extra,
  ]
  for (const h of spec.hosts) lines.push('', `[host.${h.name}]`, `address = ${h.address}`, `subnet = ${h.subnet}`)
  return `${lines.join('\n')}\n`
}

export function readLab(name: string): LabSpec | undefined {
  const file = join(labDir(name), 'lab.json')
  if (!existsSync(file)) return undefined
  return JSON.parse(readFileSync(file, 'utf8')) as LabSpec
}

/** Namespaces whose name starts with `NAME-`. */
export async function labNamespaces(name: string): Promise<string[]> {
  const out = await run('ip', ['netns', 'list'])
  return out.stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`${name}-`))
}

export async function labUp(opts: LabUpOptions): Promise<LabSpec> {
  validateLabName(opts.name)
  if (opts.hosts < 1 || opts.hosts > 200) throw new Error(`--hosts ${opts.hosts}: expected 1 to 200`)
  if ((await labNamespaces(opts.name)).length > 0 || existsSync(labDir(opts.name))) {
    throw new Error(`lab "${opts.name}" already exists; run \`fabric lab down --name ${opts.name}\` first`)
  }
  const dir = labDir(opts.name)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const hosts = Array.from({ length: opts.hosts }, (_, k) => hostSpec(opts.name, dir, k + 1))
  const spec: LabSpec = {
    name: opts.name, mode: opts.mode ?? 'static', hosts, pool: '10.244.0.0/16', underlay: '10.99.0.0/24',
    config: join(dir, 'fabric.ini'), created: new Date().toISOString(), joinArgs: opts.joinArgs ?? [],
    iniExtra: opts.iniExtra ?? modeDefaults(opts.mode ?? 'static'),
  }
  writeFileSync(join(dir, 'lab.json'), `${JSON.stringify(spec, null, 2)}\n`)
  try {
    const sw = `${opts.name}-sw`
    await must('ip', ['netns', 'add', sw])
    // links are created from here directly inside their namespaces; then each
    // namespace is configured with one `ip -n NS -batch -`
    const create: string[] = []
    const perNs = new Map<string, string[]>([[sw, ['link set lo up', 'link add br0 type bridge', 'link set br0 up']]])
    for (const h of hosts) {
      mkdirSync(h.dir, { recursive: true })
      await must('ip', ['netns', 'add', h.ns])
      await must('ip', ['netns', 'add', h.containerNs])
      create.push(
        `link add eth0 netns ${h.ns} type veth peer name h${h.index} netns ${sw}`,
        `link add veth0 netns ${h.ns} type veth peer name eth0 netns ${h.containerNs}`,
      )
      perNs.get(sw)!.push(`link set h${h.index} master br0 up`)
      perNs.set(h.ns, [
        'link set lo up',
        `addr add ${h.address}/24 dev eth0`,
        'link set eth0 up',
        'link add docker0 type bridge',
        `addr add ${h.gateway}/24 dev docker0`,
        'link set docker0 up',
        'link set veth0 master docker0 up',
      ])
      perNs.set(h.containerNs, [
        'link set lo up',
        `addr add ${h.containerIp}/24 dev eth0`,
        'link set eth0 up',
        `route add default via ${h.gateway}`,
      ])
    }
    await must('ip', ['-batch', '-'], `${create.join('\n')}\n`)
    for (const [ns, lines] of perNs) await must('ip', ['-n', ns, '-batch', '-'], `${lines.join('\n')}\n`)
    writeFileSync(spec.config, renderLabIni(spec, spec.iniExtra))
    if (opts.start !== false) {
      for (const h of hosts) startAgent(spec, h, { logLevel: opts.logLevel })
      await waitAgents(spec)
    }
    return spec
  } catch (e) {
    await labDown(opts.name)
    throw e
  }
}

/** Starts `fabric join` inside a lab host's namespace, detached, logging to its agent.log. */
export function startAgent(spec: LabSpec, h: LabHost, opts: { logLevel?: string; extraArgs?: string[]; env?: Record<string, string> } = {}): ChildProcess {
  return spawnJoin(h, ['--config', spec.config, '--address', h.address, ...spec.joinArgs, ...(opts.extraArgs ?? [])], opts)
}

/** `fabric join ARGS` in the host's namespace, detached, with its state dir, socket and JSON log. */
function spawnJoin(h: LabHost, args: string[], opts: { logLevel?: string; env?: Record<string, string> }): ChildProcess {
  mkdirSync(h.dir, { recursive: true })
  const out = openSync(h.log, 'a')
  const argv = [
    'netns', 'exec', h.ns, process.execPath, fabricBin, 'join', '--state-dir', h.dir, '--socket', h.socket,
    '--log-level', opts.logLevel ?? 'debug', '--log-format', 'json', ...args,
  ]
  const child = spawn('ip', argv, {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, FABRIC_RT_PROTOS_DIR: join(dirname(h.dir), 'rt_protos.d'), ...opts.env },
  })
  child.unref()
  writeFileSync(join(h.dir, 'agent.pid'), `${child.pid}\n`)
  return child
}

/** Waits until every agent (or the given ones) answers on its control socket. */
export async function waitAgents(spec: LabSpec, hosts: LabHost[] = spec.hosts, timeoutMs = 30_000): Promise<void> {
  for (const h of hosts) {
    const ok = await waitFor(async () => {
      try {
        await getJson(h.socket, '/v1/status', 1000)
        return true
      } catch {
        return undefined
      }
    }, timeoutMs, 100)
    if (!ok) {
      const tail = existsSync(h.log) ? readFileSync(h.log, 'utf8').split('\n').slice(-15).join('\n') : '(no log)'
      throw new Error(`agent of ${h.name} did not come up within ${timeoutMs / 1000} s; last log lines:\n${tail}`)
    }
  }
}

/** The pid of the agent process (node) running in a host namespace, if any. */
export async function agentPids(h: LabHost): Promise<number[]> {
  const r = await run('ip', ['netns', 'pids', h.ns])
  const pids = r.stdout.split('\n').filter(Boolean).map(Number)
  const out: number[] = []
  for (const pid of pids) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      if (cmdline.includes(`${fabricBin}\u0000join`)) out.push(pid)
    } catch {
      /* exited */
    }
  }
  return out
}

/** Sends a signal to a host's agent; with wait, waits for it to exit. */
export async function signalAgent(h: LabHost, signal: NodeJS.Signals, wait = true): Promise<void> {
  const pids = await agentPids(h)
  for (const pid of pids) {
    try {
      process.kill(pid, signal)
    } catch {
      /* gone */
    }
  }
  if (wait && signal !== 'SIGHUP') await waitFor(async () => ((await agentPids(h)).length === 0 ? true : undefined), 10_000, 50)
}

/** Removes everything of a lab: processes in its namespaces, namespaces, files. Idempotent. */
export async function labDown(name: string): Promise<{ namespaces: number; processes: number }> {
  validateLabName(name)
  const namespaces = await labNamespaces(name)
  let processes = 0
  const pidsOf = async (ns: string): Promise<number[]> => (await run('ip', ['netns', 'pids', ns])).stdout.split('\n').filter(Boolean).map(Number)
  for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
    let any = false
    for (const ns of namespaces) {
      for (const pid of await pidsOf(ns)) {
        any = true
        if (sig === 'SIGTERM') processes++
        try {
          process.kill(pid, sig)
        } catch {
          /* gone */
        }
      }
    }
    if (!any) break
    await waitFor(async () => {
      for (const ns of namespaces) if ((await pidsOf(ns)).length > 0) return undefined
      return true
    }, sig === 'SIGTERM' ? 5000 : 2000, 50)
  }
  for (const ns of namespaces) await run('ip', ['netns', 'del', ns])
  rmSync(labDir(name), { recursive: true, force: true })
  return { namespaces: namespaces.length, processes }
}

/** Labs present on this machine (by directory or namespace). */
export async function listLabs(): Promise<string[]> {
  const names = new Set<string>()
  const r = await run('ip', ['netns', 'list'])
  for (const l of r.stdout.split('\n')) {
    const m = /^([a-z][a-z0-9]{0,11})-(sw|h\d+|c\d+)\b/.exec(l)
    if (m) names.add(m[1]!)
  }
  if (existsSync(LAB_ROOT)) {
    for (const d of readdirSync(LAB_ROOT)) if (existsSync(join(LAB_ROOT, d, 'lab.json'))) names.add(d)
  }
  return [...names].sort()
}

export interface PingResult {
  from: string
  to: string
  ok: boolean
}

/** Pings every container from every other container (in parallel, bounded). */
export async function reachability(spec: LabSpec, timeoutS = 1): Promise<PingResult[]> {
  const pairs: [LabHost, LabHost][] = []
  for (const a of spec.hosts) for (const b of spec.hosts) if (a !== b) pairs.push([a, b])
  const results: PingResult[] = []
  const limit = 16
  for (let i = 0; i < pairs.length; i += limit) {
    const chunk = pairs.slice(i, i + limit)
    results.push(...await Promise.all(chunk.map(async ([a, b]) => {
      const r = await run('ip', ['netns', 'exec', a.containerNs, 'ping', '-n', '-c', '1', '-W', String(timeoutS), b.containerIp])
      return { from: a.name, to: b.name, ok: r.code === 0 }
    })))
  }
  return results
}

export function renderMatrix(spec: LabSpec, results: PingResult[]): string {
  const names = spec.hosts.map((h) => h.name)
  const w = Math.max(6, ...names.map((n) => n.length)) + 2
  const head = 'from \\ to'.padEnd(w + 4) + names.map((n) => n.padEnd(w)).join('')
  const rows = spec.hosts.map((a) => `${a.name}/c`.padEnd(w + 4) + spec.hosts.map((b) => {
    if (a === b) return '-'.padEnd(w)
    const r = results.find((x) => x.from === a.name && x.to === b.name)
    return (r?.ok ? 'ok' : 'FAIL').padEnd(w)
  }).join(''))
  return [head, ...rows].join('\n')
}

export { sleep }

/**
 * Adds host I to a running lab without listing it in fabric.ini (a host that
 * joins by flags only): namespaces NAME-hI and NAME-cI wired like the others.
 * The returned host is not added to lab.json; `labDown` still removes it (by name).
 */
export async function addLabHost(spec: LabSpec, index: number): Promise<LabHost> {
  const dir = labDir(spec.name)
  const h = hostSpec(spec.name, dir, index)
  mkdirSync(h.dir, { recursive: true })
  await must('ip', ['netns', 'add', h.ns])
  await must('ip', ['netns', 'add', h.containerNs])
  await must('ip', ['-batch', '-'], [
    `link add eth0 netns ${h.ns} type veth peer name h${h.index} netns ${spec.name}-sw`,
    `link add veth0 netns ${h.ns} type veth peer name eth0 netns ${h.containerNs}`,
  ].join('\n') + '\n')
  await must('ip', ['-n', `${spec.name}-sw`, 'link', 'set', `h${h.index}`, 'master', 'br0', 'up'])
  await must('ip', ['-n', h.ns, '-batch', '-'], [
    'link set lo up', `addr add ${h.address}/24 dev eth0`, 'link set eth0 up', 'link add docker0 type bridge',
    `addr add ${h.gateway}/24 dev docker0`, 'link set docker0 up', 'link set veth0 master docker0 up',
  ].join('\n') + '\n')
  await must('ip', ['-n', h.containerNs, '-batch', '-'], [
    'link set lo up', `addr add ${h.containerIp}/24 dev eth0`, 'link set eth0 up', `route add default via ${h.gateway}`,
  ].join('\n') + '\n')
  return h
}

/**
 * Starts `fabric join` in a lab host's namespace with exactly these
 * arguments (no --config, no lab join args): a host joining by flags only.
 * State dir, socket and JSON logging are added.
 */
export function startAgentArgs(h: LabHost, args: string[], opts: { logLevel?: string; env?: Record<string, string> } = {}): ChildProcess {
  return spawnJoin(h, args, opts)
}
