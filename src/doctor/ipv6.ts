/**
 * `fabric doctor` on a dual-stack fabric (pool6 configured): IPv6
 * forwarding, the Router Advertisement side effect of forwarding on the
 * underlay interface, fabric's IPv6 routes to every other host's subnet6,
 * docker0's IPv6 gateway against this host's subnet6 (and daemon.json's
 * fixed-cidr-v6), fabric's ip6tables chains. Pure over readings
 * (`ipv6Checks`), so the checks are unit-tested with fake readings; the
 * readings come from /proc/sys, rtnetlink, daemon.json and ip6tables -S.
 * Nothing here is checked, and nothing read, when pool6 is not configured.
 */
import { readFileSync } from 'node:fs'
import { readState } from '../api/state-file.js'
import type { DoctorCheck, StatusResponse } from '../api/types.js'
import type { FabricConfig } from '../config/fabric-config.js'
import { RESERVED_ROUTE_PROTOCOLS } from '../config/route-protocol.js'
import { DEFAULT_DAEMON_JSON, bip6Of } from '../host/docker.js'
import { FORWARD_CHAIN, POSTROUTING_CHAIN } from '../host/firewall.js'
import { IFA_F, type KernelAddress6, type KernelLink, RT_SCOPE } from '../kernel/rtnl-codec.js'
import { Rtnl } from '../kernel/rtnl.js'
import { type RaState, raIgnored, readSysctl6 } from '../kernel/sysctl.js'
import { type KernelRoute6, MAIN_TABLE } from '../kernel/types.js'
import { type Prefix6, containsPrefix6, formatPrefix6, parsePrefix6, samePrefix6 } from '../net/ipv6.js'
import { run } from '../util/process.js'

/** kernel route protocol of routes learned from Router Advertisements (RTPROT_RA) */
const RTPROT_RA = 9

export interface Ipv6DoctorInput {
  config?: FabricConfig
  /** this host as doctor identified it; subnet6 when fabric.ini, the flags or the agent tell it */
  self?: { name: string; address: number; iface?: string; subnet6?: Prefix6 }
  /** the agent's Docker mode (status hostIntegration.docker.mode): 'docker0', 'network' (with its name) or 'none' */
  docker?: { mode: string; network?: string }
}

export interface Ipv6Readings {
  /** net.ipv6.conf.all.forwarding (undefined: the kernel has no IPv6) */
  forwarding: string | undefined
  /** accept_ra / forwarding of the underlay interface (undefined: unknown interface or no IPv6 sysctls) */
  ra: RaState | undefined
  /** the main table's IPv6 routes */
  routes: readonly KernelRoute6[]
  links: readonly Pick<KernelLink, 'index' | 'name'>[]
  addresses6: readonly KernelAddress6[]
  /** daemon.json as read (text undefined: no such file) */
  daemonJson?: { file: string; text: string | undefined }
  /** `ip6tables -S` of filter FORWARD + DOCKER-USER and nat POSTROUTING; 'unreadable' when ip6tables is missing or fails */
  ip6tables?: { forward: string[]; dockerUser: string[]; postrouting: string[] } | 'unreadable'
}

function protoName(n: number): string {
  return RESERVED_ROUTE_PROTOCOLS.get(n) ?? String(n)
}

/** The other hosts' subnet6 as fabric.ini lists them (the rest is learned: modes rip/bgp). */
function otherSubnets6(input: Ipv6DoctorInput): { name: string; subnet6: Prefix6 }[] {
  const c = input.config
  if (!c) return []
  return c.hosts.filter((h) => h.subnet6 !== undefined && h.address !== input.self?.address && !(input.self?.subnet6 && samePrefix6(h.subnet6, input.self.subnet6)))
    .map((h) => ({ name: h.name, subnet6: h.subnet6! }))
}

/** Pure: the IPv6 checks from the readings; [] when pool6 is not configured. */
export function ipv6Checks(input: Ipv6DoctorInput, r: Ipv6Readings): DoctorCheck[] {
  const c = input.config
  const pool6 = c?.pool6
  if (!c || !pool6) return []
  const out: DoctorCheck[] = []
  const self = input.self
  const subnet6 = self?.subnet6

  // forwarding
  if (r.forwarding === '1') out.push({ name: 'ipv6 forwarding', result: 'pass', detail: 'net.ipv6.conf.all.forwarding = 1' })
  else if (r.forwarding === undefined) out.push({ name: 'ipv6 forwarding', result: 'fail', detail: 'the kernel has no IPv6 (no /proc/sys/net/ipv6): pool6 cannot be routed on this host', fix: 'boot without ipv6.disable=1, or remove pool6 from fabric.ini' })
  else out.push({ name: 'ipv6 forwarding', result: 'fail', detail: `net.ipv6.conf.all.forwarding = ${r.forwarding}: this host does not forward IPv6 container traffic`, fix: 'sysctl -w net.ipv6.conf.all.forwarding=1 (fabric join sets it at start)' })

  // accept_ra: forwarding makes the kernel ignore RAs unless accept_ra = 2
  const iface = self?.iface
  if (!iface || !r.ra) out.push({ name: 'ipv6 accept_ra', result: 'skip', detail: iface ? `no IPv6 sysctls for ${iface}` : 'underlay interface unknown' })
  else {
    const link = r.links.find((l) => l.name === iface)
    const dynamic = link ? r.addresses6.filter((a) => a.index === link.index && a.scope === RT_SCOPE.UNIVERSE && (a.flags & IFA_F.PERMANENT) === 0).map((a) => `${a.address}/${a.prefixLen}`) : []
    const raRoutes = link ? r.routes.filter((x) => x.protocol === RTPROT_RA && x.oif === link.index).map((x) => formatPrefix6(x.prefix) === '::/0' ? 'the default route' : formatPrefix6(x.prefix)) : []
    const depends = [...dynamic.map((a) => `address ${a}`), ...raRoutes.map((x) => `${x} (proto ra)`)]
    if (r.ra.acceptRa === 2) out.push({ name: 'ipv6 accept_ra', result: 'pass', detail: `net.ipv6.conf.${iface}.accept_ra = 2: Router Advertisements are taken although the host forwards` })
    else if (r.ra.acceptRa === 0) out.push({ name: 'ipv6 accept_ra', result: 'pass', detail: `net.ipv6.conf.${iface}.accept_ra = 0: Router Advertisements are off on ${iface} by configuration (static IPv6 underlay)` })
    else if (r.ra.ignored) {
      out.push({
        name: 'ipv6 accept_ra',
        result: 'warn',
        detail: `net.ipv6.conf.${iface}.accept_ra = ${r.ra.acceptRa ?? '?'} with forwarding on: the kernel ignores Router Advertisements on ${iface} (a router does not take RAs unless accept_ra = 2), so addresses and routes learned from them (SLAAC, the default route) are not renewed and expire` +
          (depends.length > 0 ? `; ${iface} has ${depends.join(', ')} from RAs now, which will go away` : `; ${iface} has nothing from RAs now (static IPv6), so nothing breaks today`),
        fix: `sysctl -w net.ipv6.conf.${iface}.accept_ra=2 (and put it in /etc/sysctl.d/) if the underlay is configured by RAs; a static underlay address and routes need nothing`,
      })
    } else out.push({ name: 'ipv6 accept_ra', result: 'pass', detail: `net.ipv6.conf.${iface}.accept_ra = ${r.ra.acceptRa ?? '?'}, forwarding on ${iface} ${r.ra.forwarding ? 'on' : 'off'}: Router Advertisements are taken` })
  }

  // fabric's IPv6 routes to every other host's subnet6
  const proto = c.routeProtocol
  const main = r.routes.filter((x) => x.table === MAIN_TABLE)
  const ours = main.filter((x) => x.protocol === proto && containsPrefix6(pool6, x.prefix))
  const others = otherSubnets6(input)
  if (others.length === 0) {
    out.push({ name: 'ipv6 routes', result: 'skip', detail: `${ours.length} IPv6 route${ours.length === 1 ? '' : 's'} of fabric (proto ${protoName(proto)}) in ${formatPrefix6(pool6)}; no other host's subnet6 is listed in fabric.ini (learned in mode ${c.mode}), so none is expected by name` })
  } else {
    const missing: string[] = []
    const held: string[] = []
    for (const o of others) {
      if (ours.some((x) => samePrefix6(x.prefix, o.subnet6))) continue
      const foreign = main.find((x) => samePrefix6(x.prefix, o.subnet6))
      if (foreign) held.push(`${o.name} ${formatPrefix6(o.subnet6)} (held by proto ${protoName(foreign.protocol)})`)
      else missing.push(`${o.name} ${formatPrefix6(o.subnet6)}`)
    }
    if (missing.length === 0 && held.length === 0) out.push({ name: 'ipv6 routes', result: 'pass', detail: `routes (proto ${protoName(proto)}) to the subnet6 of ${others.length === 1 ? `the other host (${others[0]!.name})` : `all ${others.length} other hosts`}` })
    else {
      out.push({
        name: 'ipv6 routes',
        result: 'fail',
        detail: [missing.length ? `no fabric route to ${missing.join(', ')}` : '', held.length ? `another protocol owns ${held.join(', ')}` : ''].filter(Boolean).join('; '),
        fix: held.length ? 'fabric never overrides another route: remove it (ip -6 route del PREFIX) or the host from fabric' : '`fabric routes --family 6` shows the state of each prefix; `fabric peers` whether those hosts are up',
      })
    }
  }

  // docker0's IPv6 gateway and daemon.json's fixed-cidr-v6
  const docker0 = r.links.find((l) => l.name === 'docker0')
  if (!subnet6) out.push({ name: 'docker0 ipv6', result: 'skip', detail: "this host's subnet6 is unknown (not in fabric.ini, agent not running)" })
  else if (input.docker?.mode === 'network') out.push({ name: 'docker0 ipv6', result: 'skip', detail: `the agent uses the Docker network ${input.docker.network ?? ''} (--docker-network), not docker0`.replace('  ', ' ') })
  else if (!docker0) out.push({ name: 'docker0 ipv6', result: 'skip', detail: 'no docker0 bridge on this host' })
  else {
    const want = bip6Of(subnet6)
    const have = r.addresses6.filter((a) => a.index === docker0.index && a.scope === RT_SCOPE.UNIVERSE).map((a) => `${a.address}/${a.prefixLen}`)
    const djText = r.daemonJson?.text
    let cidr: unknown
    try {
      cidr = djText ? (JSON.parse(djText) as Record<string, unknown>)['fixed-cidr-v6'] : undefined
    } catch {
      cidr = undefined
    }
    const cidrP = typeof cidr === 'string' ? parsePrefix6(cidr, false) : undefined
    const cidrOk = cidrP?.ok === true && samePrefix6(cidrP.value, subnet6)
    const file = r.daemonJson?.file ?? DEFAULT_DAEMON_JSON
    const djNote = djText === undefined ? `${file} not found` : cidr === undefined ? `${file} has no "fixed-cidr-v6"` : `${file} has "fixed-cidr-v6": ${JSON.stringify(cidr)}`
    const fix = `set "ipv6": true and "fixed-cidr-v6": "${formatPrefix6(subnet6)}" in ${file} and restart Docker (fabric join --configure-docker does it)`
    if (!have.includes(want)) {
      out.push({ name: 'docker0 ipv6', result: 'fail', detail: `docker0 has ${have.join(', ') || 'no global IPv6 address'}, this host's subnet6 is ${formatPrefix6(subnet6)} (expected ${want}); ${djNote}`, fix })
    } else if (djText !== undefined && !cidrOk) {
      out.push({ name: 'docker0 ipv6', result: 'warn', detail: `docker0 has ${want} but ${djNote}: the next Docker restart takes docker0 out of the IPv6 fabric`, fix })
    } else out.push({ name: 'docker0 ipv6', result: 'pass', detail: `docker0 ${want} matches subnet6 ${formatPrefix6(subnet6)}${djText !== undefined ? ` (fixed-cidr-v6 in ${file})` : ''}` })
  }

  // fabric's ip6tables chains
  if (r.ip6tables === 'unreadable') out.push({ name: 'ip6tables', result: 'skip', detail: 'ip6tables is not installed or cannot be read' })
  else if (r.ip6tables) {
    const jump = (rules: string[], chain: string) => rules.some((l) => new RegExp(`^-A \\S+ -j ${chain}$`).test(l))
    const fwd = jump(r.ip6tables.forward, FORWARD_CHAIN) || jump(r.ip6tables.dockerUser, FORWARD_CHAIN)
    const nat = jump(r.ip6tables.postrouting, POSTROUTING_CHAIN)
    if (fwd && nat) out.push({ name: 'ip6tables', result: 'pass', detail: `${FORWARD_CHAIN} and ${POSTROUTING_CHAIN} are jumped to in ip6tables: IPv6 traffic inside ${formatPrefix6(pool6)} is accepted and not masqueraded` })
    else {
      const policy = /^-P FORWARD (\w+)/.exec(r.ip6tables.forward[0] ?? '')?.[1] ?? 'ACCEPT'
      out.push({
        name: 'ip6tables',
        result: policy === 'ACCEPT' && !fwd && !nat ? 'warn' : 'fail',
        detail: `no jump to ${[fwd ? '' : FORWARD_CHAIN, nat ? '' : POSTROUTING_CHAIN].filter(Boolean).join(' or ')} in ip6tables (FORWARD policy ${policy}): ${policy === 'ACCEPT' ? 'IPv6 container traffic is forwarded, but may be masqueraded by Docker' : 'IPv6 traffic between hosts\' containers is dropped'}`,
        fix: 'start the agent with its firewall integration (the default; it needs ip6tables), or add the rules of docs/operations.md "fabric\'s chains" with ip6tables',
      })
    }
  }
  return out
}

async function ip6tablesS(table: string, chain: string): Promise<string[] | undefined> {
  const r = await run('ip6tables', ['-w', '5', '-t', table, '-S', chain], { timeoutMs: 10_000 })
  return r.code === 0 ? r.stdout.split('\n').filter(Boolean) : undefined
}

/** Reads what ipv6Checks needs and adds the checks; nothing is read when pool6 is not configured. */
export async function checkIpv6(ctx: {
  config?: FabricConfig
  self?: { name: string; address: number; iface?: string }
  links: readonly KernelLink[]
  status?: StatusResponse
  stateDir?: string
}, add: (c: DoctorCheck) => void): Promise<void> {
  const c = ctx.config
  if (!c?.pool6) return
  const entry = ctx.self ? c.hosts.find((h) => h.address === ctx.self!.address) : undefined
  // fabric.ini, --subnet6, else what the agent runs with (status, or state.json while it is down: automatic subnet6)
  const text6 = ctx.status?.host.subnet6 ?? (ctx.stateDir !== undefined ? readState(ctx.stateDir)?.subnet6 : undefined)
  const parsed = text6 !== undefined ? parsePrefix6(text6) : undefined
  const subnet6 = entry?.subnet6 ?? c.subnet6 ?? (parsed?.ok ? parsed.value : undefined)
  const rtnl = new Rtnl()
  let routes: KernelRoute6[]
  let addresses6: KernelAddress6[]
  try {
    ;[routes, addresses6] = await Promise.all([rtnl.dumpRoutes6(), rtnl.dumpAddresses6()])
  } finally {
    rtnl.close()
  }
  const file = typeof ctx.status?.hostIntegration?.docker?.daemonJson === 'string' ? ctx.status.hostIntegration.docker.daemonJson : DEFAULT_DAEMON_JSON
  let text: string | undefined
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    text = undefined
  }
  const [forward, dockerUser, postrouting] = await Promise.all([ip6tablesS('filter', 'FORWARD'), ip6tablesS('filter', 'DOCKER-USER'), ip6tablesS('nat', 'POSTROUTING')])
  const readings: Ipv6Readings = {
    forwarding: readSysctl6('conf/all/forwarding'),
    ra: ctx.self?.iface ? raIgnored(ctx.self.iface) : undefined,
    routes, links: ctx.links, addresses6,
    daemonJson: { file, text },
    ip6tables: forward && postrouting ? { forward, dockerUser: dockerUser ?? [], postrouting } : 'unreadable',
  }
  const self = ctx.self ? { ...ctx.self, ...(subnet6 ? { subnet6 } : {}) } : undefined
  const d = ctx.status?.hostIntegration?.docker
  const docker = d ? { mode: d.mode, ...(typeof d.network === 'string' ? { network: d.network } : {}) } : undefined
  for (const check of ipv6Checks({ config: c, self, ...(docker ? { docker } : {}) }, readings)) add(check)
}
