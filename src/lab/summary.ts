/**
 * `fabric lab status`: the pure part. From what was observed on each host
 * (its agent's answer, the fabric routes in its kernel) and the pings of a
 * sample of containers, the summary (hosts converged, routes per host
 * min / median / max, reachability per address family) and its text, and
 * the reachability matrices of the full report. No I/O here: report.ts
 * gathers the observations.
 */
import type { LabHost, LabSpec, PingResult } from './lab.js'

export type Family = 4 | 6

/** What `lab status` saw of one host. */
export interface HostObservation {
  name: string
  /** undefined: the agent answered /v1/status; otherwise why not */
  agentError?: string
  /** the agent's own verdict (`fabric status` healthy), when it answered */
  healthy?: boolean
  /** the fabric (protocol 233) unicast route prefixes in the host's kernel, per family, canonical text; a string: why they could not be read */
  kernel: Partial<Record<Family, string[]>> | string
}

export interface RouteStats {
  min: number
  /** the middle value; the mean of the two middle values for an even count */
  median: number
  max: number
}

/** min / median / max of the counts; undefined for none. */
export function routeStats(counts: readonly number[]): RouteStats | undefined {
  if (counts.length === 0) return undefined
  const s = [...counts].sort((a, b) => a - b)
  const mid = s.length >> 1
  return { min: s[0]!, median: s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, max: s[s.length - 1]! }
}

export interface FamilySummary {
  family: Family
  /** hosts whose kernel has a fabric route to every other host's subnet of this family */
  complete: number
  /** hosts whose kernel lacks one (listed whether or not their agent answered), by host order */
  missing: string[]
  /** fabric routes of this family in each host's kernel (hosts whose kernel was read); undefined when none was */
  routes: RouteStats | undefined
  pings: PingResult[]
}

export interface LabSummary {
  hosts: number
  /** hosts whose agent answered and whose kernel has a route to every other host's subnet, in every family of the lab */
  converged: number
  /** hosts whose agent did not answer, by host order */
  agentsDown: string[]
  /** hosts whose agent answered but reports itself unhealthy */
  unhealthy: string[]
  /** hosts whose kernel routes could not be read */
  kernelUnread: string[]
  /** IPv4 first, then IPv6 in a dual-stack lab */
  families: FamilySummary[]
  /** the hosts whose containers pinged every other container */
  sample: string[]
  /** sample containers whose pinger could not run (their pings count as failed) */
  pingErrors: string[]
  /** set when the kernel's neighbour table is smaller than the lab needs (pings and sessions then fail): what it is and needs */
  neighShort?: string
  elapsedMs: number
  /** how long each part took (they run at the same time) */
  phases: { agentsMs: number; kernelMs: number; pingsMs: number }
}

/** The families a lab's containers have: IPv4, and IPv6 when every host has an IPv6 subnet and container address. */
export function labFamilies(hosts: readonly LabHost[]): Family[] {
  return hosts.length > 0 && hosts.every((h) => h.subnet6 && h.containerIp6) ? [4, 6] : [4]
}

export function subnetOf(h: LabHost, f: Family): string | undefined {
  return f === 4 ? h.subnet : h.subnet6
}

export function containerAddress(h: LabHost, f: Family): string | undefined {
  return f === 4 ? h.containerIp : h.containerIp6
}

/**
 * Other hosts' subnets of family `f` that are not among `have`. A route to a
 * host's own subnet is not expected (it is connected, not a fabric route).
 */
export function missingSubnets(hosts: readonly LabHost[], self: string, f: Family, have: ReadonlySet<string>): string[] {
  const out: string[] = []
  for (const o of hosts) {
    if (o.name === self) continue
    const s = subnetOf(o, f)
    if (s !== undefined && !have.has(s)) out.push(s)
  }
  return out
}

/** Builds the summary from the observations (in any order) and the pings of each family. */
export function summarize(opts: {
  hosts: readonly LabHost[]
  observations: readonly HostObservation[]
  pings: Partial<Record<Family, PingResult[]>>
  sample: readonly LabHost[]
  pingErrors?: readonly string[]
  neighShort?: string
  elapsedMs: number
  phases: LabSummary['phases']
}): LabSummary {
  const families = labFamilies(opts.hosts)
  const byName = new Map(opts.observations.map((o) => [o.name, o]))
  const agentsDown: string[] = []
  const unhealthy: string[] = []
  const kernelUnread: string[] = []
  const perFamily = families.map((f) => ({ family: f, counts: [] as number[], missing: [] as string[] }))
  let converged = 0
  for (const h of opts.hosts) {
    const o = byName.get(h.name)
    const agentUp = o !== undefined && o.agentError === undefined
    if (!agentUp) agentsDown.push(h.name)
    else if (o.healthy === false) unhealthy.push(h.name)
    if (o === undefined || typeof o.kernel === 'string') {
      kernelUnread.push(h.name)
      continue
    }
    let complete = true
    for (const pf of perFamily) {
      const prefixes = o.kernel[pf.family] ?? []
      pf.counts.push(prefixes.length)
      if (missingSubnets(opts.hosts, h.name, pf.family, new Set(prefixes)).length > 0) {
        pf.missing.push(h.name)
        complete = false
      }
    }
    if (complete && agentUp) converged++
  }
  const read = opts.hosts.length - kernelUnread.length
  return {
    hosts: opts.hosts.length,
    converged,
    agentsDown,
    unhealthy,
    kernelUnread,
    families: perFamily.map((pf) => ({
      family: pf.family,
      complete: read - pf.missing.length,
      missing: pf.missing,
      routes: routeStats(pf.counts),
      pings: opts.pings[pf.family] ?? [],
    })),
    sample: opts.sample.map((h) => h.name),
    pingErrors: [...(opts.pingErrors ?? [])],
    ...(opts.neighShort ? { neighShort: opts.neighShort } : {}),
    elapsedMs: opts.elapsedMs,
    phases: opts.phases,
  }
}

/** The first `max` names, then how many more. */
export function names(list: readonly string[], max = 12): string {
  return list.length <= max ? list.join(', ') : `${list.slice(0, max).join(', ')} and ${list.length - max} more`
}

function fmtNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1)
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`
}

/** The summary's exit status: 0 when every host converged and every ping was answered. */
export function summaryOk(s: LabSummary): boolean {
  return s.converged === s.hosts && s.pingErrors.length === 0 && s.families.every((f) => f.pings.every((p) => p.ok))
}

export function labHeader(spec: LabSpec): string {
  const rr = spec.topology === 'rr' ? `, topology rr (${spec.reflectors.length} ${spec.reflectors[0]?.engine ?? ''} reflectors: ${spec.reflectors.map((r) => r.address).join(', ')}, cluster id ${spec.clusterId})` : ''
  const pool6 = (spec as LabSpec & { pool6?: string }).pool6
  const v6 = labFamilies(spec.hosts).includes(6) ? `, IPv6${pool6 ? ` pool ${pool6}` : ''}` : ''
  return `lab ${spec.name}: ${spec.hosts.length} hosts, mode ${spec.mode}${rr}, underlay ${spec.underlay}, pool ${spec.pool}${v6}`
}

export function renderSummary(spec: LabSpec, s: LabSummary): string {
  const dual = s.families.length > 1
  const label = (f: FamilySummary): string => (dual ? `IPv${f.family} ` : '')
  const expected = Math.max(0, s.hosts - 1)
  const lines = [
    labHeader(spec),
    `agents: ${s.hosts - s.agentsDown.length}/${s.hosts} answering${s.unhealthy.length ? `, ${s.unhealthy.length} of them unhealthy` : ''}`,
    `converged: ${s.converged}/${s.hosts} hosts have a route to every other host's subnet${dual ? ' (IPv4 and IPv6)' : ''}${s.agentsDown.length ? ' and an answering agent' : ''}`,
    `routes per host (fabric routes in each host's kernel): ${s.families.map((f) => `${label(f)}${f.routes ? `min ${fmtNumber(f.routes.min)}, median ${fmtNumber(f.routes.median)}, max ${fmtNumber(f.routes.max)}` : 'none read'}`).join('; ')} (expected ${expected}${dual ? ' each' : ''})`,
  ]
  if (s.agentsDown.length) lines.push(`agents not answering: ${names(s.agentsDown)}`)
  if (s.unhealthy.length) lines.push(`agents unhealthy (see fabric status on them): ${names(s.unhealthy)}`)
  if (s.kernelUnread.length) lines.push(`kernel routes not read: ${names(s.kernelUnread)}`)
  for (const f of s.families) if (f.missing.length) lines.push(`${label(f)}missing routes: ${names(f.missing)}`)
  const tally = s.families.map((f) => `${label(f)}${f.pings.filter((p) => p.ok).length}/${f.pings.length}`).join(', ')
  lines.push(`reachability: ${tally} pings answered from the containers of ${names(s.sample, 20)} to every other container`)
  for (const f of s.families) {
    const failed = f.pings.filter((p) => !p.ok)
    if (failed.length) lines.push(`${label(f)}failed: ${names(failed.map((p) => `${p.from}->${p.to}`), 20)}`)
  }
  if (s.neighShort) lines.push(`warning: ${s.neighShort}`)
  if (s.pingErrors.length) lines.push(`ping errors: ${s.pingErrors.slice(0, 3).join('; ')}${s.pingErrors.length > 3 ? ` and ${s.pingErrors.length - 3} more` : ''}`)
  const p = s.phases
  lines.push(`(${seconds(s.elapsedMs)}: agents ${seconds(p.agentsMs)}, kernel routes ${seconds(p.kernelMs)}, pings ${seconds(p.pingsMs)}, at the same time; the full matrix: fabric lab status --name ${spec.name} --matrix)`)
  return lines.join('\n')
}

/** One reachability matrix: a row per source container, a column per target; `ok`, `FAIL`, `-` (itself) or `?` (not pinged). */
export function renderMatrix(hosts: readonly LabHost[], results: readonly PingResult[]): string {
  const names = hosts.map((h) => h.name)
  const w = Math.max(6, ...names.map((n) => n.length)) + 2
  const head = 'from \\ to'.padEnd(w + 4) + names.map((n) => n.padEnd(w)).join('')
  const ok = new Map(results.map((x) => [`${x.from} ${x.to}`, x.ok]))
  const rows = hosts.map((a) => `${a.name}/c`.padEnd(w + 4) + hosts.map((b) => {
    if (a === b) return '-'.padEnd(w)
    const v = ok.get(`${a.name} ${b.name}`)
    return (v === undefined ? '?' : v ? 'ok' : 'FAIL').padEnd(w)
  }).join('')).map((r) => r.trimEnd())
  return [head.trimEnd(), ...rows].join('\n')
}
