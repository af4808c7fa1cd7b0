/**
 * Text reports of a lab: the summary of `fabric lab status` (hosts
 * converged, routes per host, pings from a sample of containers) and the
 * full report (every host's fabric routes and the container reachability
 * matrix, per address family). The summary's math and text are in
 * summary.ts; here is what gathers the observations, in parallel and bounded.
 */
import { fileURLToPath } from 'node:url'
import { AgentUnreachable, getJson, getStatus } from '../api/client.js'
import { renderRouteTable } from '../api/render.js'
import type { RouteRow } from '../api/types.js'
import { readFabricRoutes } from './kernel-routes.js'
import { neighEntriesFor, neighShortfall, readNeigh, sysctlName } from './neigh.js'
import type { LabHost, LabSpec, PingResult } from './lab.js'
import { pingFromNamespace } from './pinger.js'
import { run } from './sh.js'
import { type Family, type HostObservation, type LabSummary, containerAddress, labFamilies, labHeader, renderMatrix, summarize } from './summary.js'

export { renderSummary, summaryOk } from './summary.js'
export type { LabSummary } from './summary.js'

const fabricBin = fileURLToPath(new URL('../../bin/fabric.js', import.meta.url))

export async function hostRoutes(socket: string, timeoutMs?: number): Promise<RouteRow[] | string> {
  try {
    return (await getJson<{ routes: RouteRow[] }>(socket, '/v1/routes', timeoutMs)).routes
  } catch (e) {
    return e instanceof AgentUnreachable ? 'agent not running' : (e as Error).message
  }
}

/** Runs `fn` over the items, at most `limit` at a time; the results keep the items' order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker))
  return out
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

/** How many containers `lab status` pings from when the lab has more than 10 hosts. */
export const SAMPLE_SIZE = 10

/** `count` hosts spread evenly over the lab (all of them when it has no more). */
export function sampleHosts(hosts: LabHost[], count = SAMPLE_SIZE): LabHost[] {
  if (hosts.length <= count) return [...hosts]
  return Array.from({ length: count }, (_, k) => hosts[Math.floor((k * hosts.length) / count)]!)
}

export interface PingRound {
  byFamily: Record<Family, PingResult[]>
  /** sources whose pinger could not run (their pings count as failed) */
  errors: string[]
}

/**
 * Each source container pings every other host's container, in every family
 * the lab has, with one pinger process (pinger.ts) per source, `parallel`
 * sources at a time: the round takes about one round trip when all answer,
 * and `waitS` when one does not.
 */
export async function pingRound(hosts: readonly LabHost[], sources: readonly LabHost[], opts: { parallel?: number; waitS?: number; families?: Family[] } = {}): Promise<PingRound> {
  const families = opts.families ?? labFamilies(hosts)
  const byFamily: Record<Family, PingResult[]> = { 4: [], 6: [] }
  const errors: string[] = []
  const perSource = await mapLimit(sources, opts.parallel ?? 16, async (a) => {
    const targets: { addr: string; to: string; f: Family }[] = []
    for (const f of families) {
      for (const b of hosts) {
        const addr = b.name === a.name ? undefined : containerAddress(b, f)
        if (addr !== undefined) targets.push({ addr, to: b.name, f })
      }
    }
    try {
      const seen = await pingFromNamespace(a.containerNs, targets.map((t) => t.addr), { waitS: opts.waitS })
      return targets.map((t) => ({ ...t, ok: seen.get(t.addr) === true }))
    } catch (e) {
      errors.push(`${a.name}: ${(e as Error).message}`)
      return targets.map((t) => ({ ...t, ok: false }))
    }
  })
  perSource.forEach((list, i) => {
    for (const t of list) byFamily[t.f].push({ from: sources[i]!.name, to: t.to, ok: t.ok })
  })
  return { byFamily, errors }
}

/**
 * A warning when the kernel's neighbour table cannot hold the entries a lab
 * of this size needs (every host resolves every other: N² entries), else
 * undefined. The lab raises the limits at `lab up`; something else on the
 * machine may have put them back since.
 */
export function neighWarning(spec: LabSpec): string | undefined {
  const nodes = spec.hosts.length + spec.reflectors.filter((r) => r.engine !== 'fabric').length
  let short: ReturnType<typeof neighShortfall>
  try {
    short = neighShortfall(nodes, readNeigh())
  } catch {
    return undefined
  }
  const hard = short.find((x) => x.key === 'gc_thresh3')
  if (!hard) return undefined
  return `${sysctlName('gc_thresh3')} is ${hard.current}, below the ${neighEntriesFor(nodes)} neighbour entries a lab of ${nodes} hosts needs when every container pings every other; pings fail once the table is full (\`fabric lab up\` raises it; something lowered it since)`
}

/** Asks every agent for /v1/status (`parallel` at a time, each bounded by `timeoutMs`). */
export async function agentStates(hosts: readonly LabHost[], opts: { parallel?: number; timeoutMs?: number } = {}): Promise<Map<string, { agentError?: string; healthy?: boolean }>> {
  const states = await mapLimit(hosts, opts.parallel ?? 8, async (h) => {
    try {
      const s = await getStatus(h.socket, opts.timeoutMs ?? 3000)
      return { healthy: s.healthy }
    } catch (e) {
      return { agentError: e instanceof AgentUnreachable ? e.reason : (e as Error).message }
    }
  })
  return new Map(hosts.map((h, i) => [h.name, states[i]!]))
}

/**
 * The summary of a lab, its three parts at the same time: every agent's
 * /v1/status, the fabric routes in every host's kernel (a few shells running
 * `ip -n NS route show proto 233`), and one ping round from `sample`
 * containers to every other container in every family.
 */
export async function labSummary(spec: LabSpec, sample = SAMPLE_SIZE): Promise<LabSummary> {
  const t0 = Date.now()
  const families = labFamilies(spec.hosts)
  const sources = sampleHosts(spec.hosts, sample)
  const timed = async <T>(p: Promise<T>): Promise<[T, number]> => [await p, Date.now() - t0]
  const [[agents, agentsMs], [kernel, kernelMs], [pings, pingsMs]] = await Promise.all([
    timed(agentStates(spec.hosts)),
    timed(readFabricRoutes(spec.hosts.map((h) => h.ns), families)),
    timed(pingRound(spec.hosts, sources, { families })),
  ])
  const observations: HostObservation[] = spec.hosts.map((h) => ({ name: h.name, ...agents.get(h.name), kernel: kernel.get(h.ns) ?? 'not read' }))
  return summarize({ hosts: spec.hosts, observations, pings: pings.byFamily, sample: sources, pingErrors: pings.errors, neighShort: neighWarning(spec), elapsedMs: Date.now() - t0, phases: { agentsMs, kernelMs, pingsMs } })
}

/**
 * The full report: every host's fabric routes (from its agent, 16 hosts at
 * a time, printed in host order) and the reachability matrix of every
 * container to every other, one matrix per address family.
 */
export async function labReport(spec: LabSpec): Promise<{ text: string; allReachable: boolean; elapsedMs: number }> {
  const t0 = Date.now()
  const families = labFamilies(spec.hosts)
  const [tables, round] = await Promise.all([
    mapLimit(spec.hosts, 16, (h) => hostRoutes(h.socket, 10_000)),
    pingRound(spec.hosts, spec.hosts, { families }),
  ])
  const parts: string[] = [labHeader(spec)]
  spec.hosts.forEach((h, i) => {
    const routes = tables[i]!
    const v6 = h.subnet6 ? `, subnet6 ${h.subnet6}` : ''
    parts.push('', `== ${h.name} (${h.address}, subnet ${h.subnet}${v6}, namespace ${h.ns}) — fabric routes`)
    parts.push(typeof routes === 'string' ? `  (${routes})` : routes.length ? renderRouteTable(routes).replace(/^/gm, '  ') : '  (none)')
  })
  let allReachable = round.errors.length === 0
  for (const f of families) {
    const results = round.byFamily[f]
    const ok = results.filter((r) => r.ok).length
    if (ok !== results.length) allReachable = false
    const fam = families.length > 1 ? ` over IPv${f}` : ''
    parts.push('', `== container reachability${fam} (ping from each host's container to every other): ${ok}/${results.length} ok`)
    parts.push(renderMatrix(spec.hosts, results).replace(/^/gm, '  '))
  }
  if (round.errors.length) parts.push('', `ping errors: ${round.errors.join('; ')}`)
  const neigh = neighWarning(spec)
  if (neigh) parts.push('', `warning: ${neigh}`)
  const elapsedMs = Date.now() - t0
  parts.push('', `(${(elapsedMs / 1000).toFixed(1)} s)`)
  return { text: parts.join('\n'), allReachable, elapsedMs }
}
