/** Text reports of a lab: every host's fabric routes and the container reachability matrix. */
import { AgentUnreachable, getJson } from '../api/client.js'
import type { RouteRow } from '../api/types.js'
import { renderRouteTable } from '../api/render.js'
import { fileURLToPath } from 'node:url'
import { type LabHost, type LabSpec, type PingResult, reachability, reachabilityFrom, renderMatrix } from './lab.js'
import { run } from './sh.js'

const fabricBin = fileURLToPath(new URL('../../bin/fabric.js', import.meta.url))

export async function hostRoutes(socket: string): Promise<RouteRow[] | string> {
  try {
    return (await getJson<{ routes: RouteRow[] }>(socket, '/v1/routes')).routes
  } catch (e) {
    return e instanceof AgentUnreachable ? 'agent not running' : (e as Error).message
  }
}

/**
 * What an operator on the first host would run: `fabric peers` and
 * `fabric doctor`, inside that host's namespace, as text.
 */
export async function operatorView(spec: LabSpec): Promise<string> {
  const h = spec.hosts[0]!
  const cli = (args: string[]) => run('ip', ['netns', 'exec', h.ns, process.execPath, fabricBin, ...args], { timeoutMs: 60_000 })
  const peers = await cli(['peers', '--socket', h.socket])
  const doctor = await cli(['doctor', '--config', spec.config, '--socket', h.socket, '--state-dir', h.dir, '--timeout', '1'])
  return [
    `== ${h.name}: fabric peers`, (peers.stdout || peers.stderr).trimEnd().replace(/^/gm, '  '),
    '', `== ${h.name}: fabric doctor`, (doctor.stdout || doctor.stderr).trimEnd().replace(/^/gm, '  '),
  ].join('\n')
}

/** Waits until every host has an installed route to every other host's subnet (or the timeout). */
export async function waitConverged(spec: LabSpec, timeoutMs = 30_000): Promise<boolean> {
  const end = Date.now() + timeoutMs
  for (;;) {
    let done = true
    for (const h of spec.hosts) {
      const rows = await hostRoutes(h.socket)
      const installed = typeof rows === 'string' ? new Set<string>() : new Set(rows.filter((r) => r.state === 'installed').map((r) => r.prefix))
      if (spec.hosts.some((o) => o !== h && !installed.has(o.subnet))) {
        done = false
        break
      }
    }
    if (done) return true
    if (Date.now() > end) return false
    await new Promise((r) => setTimeout(r, 250))
  }
}

export async function labReport(spec: LabSpec): Promise<{ text: string; allReachable: boolean }> {
  const parts: string[] = [`lab ${spec.name}: ${spec.hosts.length} hosts, mode ${spec.mode}, underlay ${spec.underlay}, pool ${spec.pool}`]
  for (const h of spec.hosts) {
    const routes = await hostRoutes(h.socket)
    parts.push('', `== ${h.name} (${h.address}, subnet ${h.subnet}, namespace ${h.ns}) — fabric routes`)
    parts.push(typeof routes === 'string' ? `  (${routes})` : routes.length ? renderRouteTable(routes).replace(/^/gm, '  ') : '  (none)')
  }
  const results = await reachability(spec)
  const ok = results.filter((r) => r.ok).length
  parts.push('', `== container reachability (ping from each host's container to every other): ${ok}/${results.length} ok`)
  parts.push(renderMatrix(spec, results).replace(/^/gm, '  '))
  return { text: parts.join('\n'), allReachable: ok === results.length }
}

/** How many containers `lab status` pings from when the lab has more than 10 hosts. */
export const SAMPLE_SIZE = 10

/** `count` hosts spread evenly over the lab (all of them when it has no more). */
export function sampleHosts(hosts: LabHost[], count = SAMPLE_SIZE): LabHost[] {
  if (hosts.length <= count) return [...hosts]
  return Array.from({ length: count }, (_, k) => hosts[Math.floor((k * hosts.length) / count)]!)
}

export interface LabSummary {
  hosts: number
  /** hosts whose agent answered and has an installed route to every other host's subnet */
  converged: number
  agentsDown: string[]
  notConverged: string[]
  /** installed fabric routes per host (answering agents) */
  routes: { min: number; median: number; max: number }
  sample: string[]
  pings: PingResult[]
  elapsedMs: number
}

/** Routes of every host (16 control-API requests at a time), convergence, and pings from a sample of containers. */
export async function labSummary(spec: LabSpec, sample = SAMPLE_SIZE): Promise<LabSummary> {
  const t0 = Date.now()
  const counts: number[] = []
  const agentsDown: string[] = []
  const notConverged: string[] = []
  const queue = [...spec.hosts]
  const worker = async (): Promise<void> => {
    for (let h = queue.shift(); h; h = queue.shift()) {
      const rows = await hostRoutes(h.socket)
      if (typeof rows === 'string') {
        agentsDown.push(h.name)
        continue
      }
      const installed = new Set(rows.filter((r) => r.state === 'installed').map((r) => r.prefix))
      counts.push(installed.size)
      if (spec.hosts.some((o) => o !== h && !installed.has(o.subnet))) notConverged.push(h.name)
    }
  }
  await Promise.all(Array.from({ length: 16 }, worker))
  counts.sort((a, b) => a - b)
  const sources = sampleHosts(spec.hosts, sample)
  const pings = await reachabilityFrom(spec, sources)
  const byIndex = (a: string, b: string) => Number(a.replace(/\D/g, '')) - Number(b.replace(/\D/g, ''))
  return {
    hosts: spec.hosts.length,
    converged: spec.hosts.length - agentsDown.length - notConverged.length,
    agentsDown: agentsDown.sort(byIndex),
    notConverged: notConverged.sort(byIndex),
    routes: { min: counts[0] ?? 0, median: counts[Math.floor(counts.length / 2)] ?? 0, max: counts[counts.length - 1] ?? 0 },
    sample: sources.map((h) => h.name),
    pings,
    elapsedMs: Date.now() - t0,
  }
}

function names(list: string[], max = 12): string {
  return list.length <= max ? list.join(', ') : `${list.slice(0, max).join(', ')} and ${list.length - max} more`
}

export function renderSummary(spec: LabSpec, s: LabSummary): string {
  const ok = s.pings.filter((p) => p.ok).length
  const rr = spec.topology === 'rr' ? `, topology rr (${spec.reflectors.length} ${spec.reflectors[0]?.engine ?? ''} reflectors: ${spec.reflectors.map((r) => r.address).join(', ')}, cluster id ${spec.clusterId})` : ''
  const lines = [
    `lab ${spec.name}: ${s.hosts} hosts, mode ${spec.mode}${rr}, underlay ${spec.underlay}, pool ${spec.pool}`,
    `converged: ${s.converged}/${s.hosts} hosts have a route to every other host's subnet`,
    `routes per host (installed): min ${s.routes.min}, median ${s.routes.median}, max ${s.routes.max} (expected ${s.hosts - 1})`,
  ]
  if (s.agentsDown.length) lines.push(`agents not answering: ${names(s.agentsDown)}`)
  if (s.notConverged.length) lines.push(`missing routes: ${names(s.notConverged)}`)
  lines.push(`reachability: ${ok}/${s.pings.length} pings ok from the containers of ${s.sample.join(', ')} to every other container`)
  const failed = s.pings.filter((p) => !p.ok)
  if (failed.length) lines.push(`failed: ${names(failed.map((p) => `${p.from}->${p.to}`), 20)}`)
  lines.push(`(${(s.elapsedMs / 1000).toFixed(1)} s; the full matrix: fabric lab status --name ${spec.name} --matrix)`)
  return lines.join('\n')
}
