/**
 * fabric's firewall chains. Docker's own rules drop forwarded traffic to its
 * bridges (FORWARD policy DROP since 1.13) and masquerade everything that
 * leaves them; fabric adds two chains it owns:
 *
 *   filter FABRIC-FORWARD      jumped first from DOCKER-USER (when Docker's
 *                              FORWARD uses it) else from FORWARD:
 *                              ACCEPT pool -> local subnet and local subnet -> pool
 *   nat FABRIC-POSTROUTING     jumped first from POSTROUTING:
 *                              ACCEPT local subnet -> pool (no NAT inside the
 *                              fabric, before Docker's MASQUERADE), then
 *                              MASQUERADE local subnet -> anything else
 *
 * With fabric networks ([network.NAME], see config/networks.ts) the same
 * two chains carry, keyed by pools and this host's own subnets (never by
 * other hosts, so O(networks + allowed pairs) rules):
 *
 *   FABRIC-FORWARD             per network N (default included):
 *                                ACCEPT pool(N) -> local(N), local(N) -> pool(N)
 *                              per allowed pair {A, B}, both ways:
 *                                ACCEPT pool(B) -> local(A), local(A) -> pool(B)
 *                              per network: RETURN pool(N) -> pool(N) (transit
 *                                inside one network: Docker's rules decide, as before)
 *                              per network: -d pool(N) -g FABRIC-ISOLATION
 *   FABRIC-ISOLATION           per network: -s pool(N) DROP (so: from any
 *                                fabric network to any other, not accepted above)
 *   FABRIC-POSTROUTING         per local network N: ACCEPT local(N) -> pool(N)
 *                                and -> pool(M) for every M allowed with N
 *                                (no NAT between fabric networks), then
 *                                MASQUERADE local(N) (to the outside)
 *
 * The drop is on the sending host (packets from its containers) and on the
 * receiving one (packets arriving from the underlay), so a sender without
 * rules does not get through. With the default network alone the rules are
 * exactly the two-chain set above, and FABRIC-ISOLATION does not exist.
 *
 * On a dual-stack host (pool6 and subnet6 set) the same two chains exist in
 * ip6tables, for the default network (fabric networks are IPv4 only):
 *
 *   filter FABRIC-FORWARD      jumped first from DOCKER-USER (when Docker
 *                              programs ip6tables and FORWARD uses it) else
 *                              from FORWARD: ACCEPT pool6 -> subnet6 and
 *                              subnet6 -> pool6
 *   nat FABRIC-POSTROUTING     jumped first from POSTROUTING: ACCEPT
 *                              subnet6 -> pool6 (no NAT inside pool6), then
 *                              MASQUERADE subnet6 -> anything else, exactly
 *                              when IPv4 masquerades (--no-masquerade: neither)
 *
 * An IPv4-only host makes no ip6tables call at all.
 *
 * Planning is pure (iptables-save text in, restore script out) so it is
 * unit-tested; applying is one `iptables-restore --noflush` per change.
 * Other chains are never touched except to add or remove the jump rules.
 */
import { DEFAULT_NETWORK, allowedPairs } from '../config/networks.js'
import { containsAddress, formatPrefix, type Prefix } from '../net/ipv4.js'
import { type Prefix6, containsAddress6, formatPrefix6, parseAddress6 } from '../net/ipv6.js'
import { type Saved, hasChain, normalizeRule, rulesOf } from './iptables.js'

export const FORWARD_CHAIN = 'FABRIC-FORWARD'
export const POSTROUTING_CHAIN = 'FABRIC-POSTROUTING'
/** filter chain reached (goto) from FABRIC-FORWARD only, when there are several fabric networks */
export const ISOLATION_CHAIN = 'FABRIC-ISOLATION'

/** A [network.NAME] as the firewall sees it. */
export interface NetworkFirewallSpec {
  name: string
  pool: Prefix
  /** this host's subnet of the network; absent when this host has none (then only the isolation rules) */
  local?: Prefix
}

export interface FirewallSpec {
  /** the default network's (docker0's) pool */
  pool: Prefix
  /** this host's container subnet (default network) */
  local: Prefix
  /** masquerade the local subnets to destinations outside the fabric networks they may reach (default true) */
  masquerade: boolean
  /** the other fabric networks; absent or empty: the default network alone, rules as before networks existed */
  networks?: NetworkFirewallSpec[]
  /** unordered pairs of network names ('default' for the default network) that may talk */
  allow?: [string, string][]
}

/**
 * The firewall spec of this host from the config's networks and this host's
 * subnet in each (phase 2: the agent passes what ipam/static gave it).
 */
export function firewallSpec(input: {
  pool: Prefix
  local: Prefix
  masquerade: boolean
  networks: { name: string; pool: Prefix; allow: string[] }[]
  /** this host's subnet per network name */
  localSubnets: Record<string, Prefix>
}): FirewallSpec {
  return {
    pool: input.pool,
    local: input.local,
    masquerade: input.masquerade,
    networks: input.networks.map((n) => ({ name: n.name, pool: n.pool, ...(input.localSubnets[n.name] ? { local: input.localSubnets[n.name] } : {}) })),
    allow: allowedPairs(input.networks),
  }
}

export interface ChainSpec {
  table: string
  chain: string
  rules: string[]
  /** the chain the single jump rule lives in, as its first rule */
  parent: string
  /** reached from rules of `parent` itself (FABRIC-ISOLATION): no jump rule of its own to manage */
  noJump?: boolean
}

export interface Plan {
  /** iptables-restore --noflush input; empty when everything is in place */
  script: string
  /** what is changed, for the log */
  changes: string[]
}

/** The chains and rules fabric wants, for the current state of the tables (DOCKER-USER or FORWARD). */
export function desiredChains(spec: FirewallSpec, saved: Saved): ChainSpec[] {
  const nets: NetworkFirewallSpec[] = [{ name: DEFAULT_NETWORK, pool: spec.pool, local: spec.local }, ...(spec.networks ?? [])]
  const byName = new Map(nets.map((n) => [n.name, n]))
  const f = formatPrefix
  const forwardRules: string[] = []
  const natRules: string[] = []
  // each allowed pair as two orientations [mine, other]
  // canonical order (each pair sorted, pairs sorted), so one allow set gives one rule list however it was written
  const pairs = [...new Map((spec.allow ?? []).map(([a, b]) => (a < b ? [a, b] : [b, a])).map((p) => [p.join('\0'), p as [string, string]])).values()].sort((x, y) => byCodeUnits(x.join('\0'), y.join('\0')))
  const allowed = pairs.flatMap(([a, b]) => [[a, b], [b, a]] as const).filter(([a, b]) => a !== b && byName.has(a) && byName.has(b))
  for (const n of nets) {
    if (n.local === undefined) continue
    forwardRules.push(`-s ${f(n.pool)} -d ${f(n.local)} -j ACCEPT`, `-s ${f(n.local)} -d ${f(n.pool)} -j ACCEPT`)
  }
  for (const [mine, other] of allowed) {
    const local = byName.get(mine)!.local
    if (local === undefined) continue
    const pool = f(byName.get(other)!.pool)
    forwardRules.push(`-s ${pool} -d ${f(local)} -j ACCEPT`, `-s ${f(local)} -d ${pool} -j ACCEPT`)
  }
  const chains: ChainSpec[] = []
  const parent = forwardParent(saved)
  if (nets.length > 1) {
    for (const n of nets) forwardRules.push(`-s ${f(n.pool)} -d ${f(n.pool)} -j RETURN`)
    for (const n of nets) forwardRules.push(`-d ${f(n.pool)} -g ${ISOLATION_CHAIN}`)
    // listed before FABRIC-FORWARD: the restore script creates it before the rules that go to it
    chains.push({ table: 'filter', chain: ISOLATION_CHAIN, rules: nets.map((n) => `-s ${f(n.pool)} -j DROP`), parent: FORWARD_CHAIN, noJump: true })
  }
  for (const n of nets) {
    if (n.local === undefined) continue
    natRules.push(`-s ${f(n.local)} -d ${f(n.pool)} -j ACCEPT`)
    for (const [mine, other] of allowed) if (mine === n.name) natRules.push(`-s ${f(n.local)} -d ${f(byName.get(other)!.pool)} -j ACCEPT`)
    if (spec.masquerade) natRules.push(`-s ${f(n.local)} -j MASQUERADE`)
  }
  chains.push(
    { table: 'filter', chain: FORWARD_CHAIN, rules: forwardRules, parent },
    { table: 'nat', chain: POSTROUTING_CHAIN, rules: natRules, parent: 'POSTROUTING' },
  )
  return chains
}

/** This host's IPv6 firewall spec (dual-stack host: SelfInfo.pool6 and subnet6). */
export interface FirewallSpec6 {
  pool6: Prefix6
  /** this host's IPv6 container subnet (docker0's fixed-cidr-v6) */
  subnet6: Prefix6
  /** as for IPv4: masquerade subnet6 to destinations outside pool6 */
  masquerade: boolean
}

/** The IPv6 spec of a host, undefined on an IPv4-only host (then fabric makes no ip6tables call). */
export function firewallSpec6(self: { pool6?: Prefix6; subnet6?: Prefix6 }, masquerade: boolean): FirewallSpec6 | undefined {
  if (self.pool6 === undefined || self.subnet6 === undefined) return undefined
  return { pool6: self.pool6, subnet6: self.subnet6, masquerade }
}

/**
 * fabric's ip6tables chains, for the current state of ip6tables: the IPv4
 * default network's rules with pool6 and subnet6 (same chain names, same
 * jump parents, same order: ACCEPT inside the pool before MASQUERADE).
 */
export function desiredChains6(spec: FirewallSpec6, saved: Saved): ChainSpec[] {
  const pool = formatPrefix6(spec.pool6)
  const local = formatPrefix6(spec.subnet6)
  const nat = [`-s ${local} -d ${pool} -j ACCEPT`]
  if (spec.masquerade) nat.push(`-s ${local} -j MASQUERADE`)
  return [
    { table: 'filter', chain: FORWARD_CHAIN, rules: [`-s ${pool} -d ${local} -j ACCEPT`, `-s ${local} -d ${pool} -j ACCEPT`], parent: forwardParent(saved) },
    { table: 'nat', chain: POSTROUTING_CHAIN, rules: nat, parent: 'POSTROUTING' },
  ]
}

/** DOCKER-USER when it exists and FORWARD jumps to it (Docker is programming the host), else FORWARD. */
export function forwardParent(saved: Saved): string {
  if (!hasChain(saved, 'filter', 'DOCKER-USER')) return 'FORWARD'
  return rulesOf(saved, 'filter', 'FORWARD').some((r) => jumpTarget(r) === 'DOCKER-USER') ? 'DOCKER-USER' : 'FORWARD'
}

/** The `-j`/`-g` target of a rule spec that is nothing but a jump (no matches). */
export function jumpTarget(rule: string): string | undefined {
  const m = /^(?:-j|-g) (\S+)$/.exec(normalizeRule(rule))
  return m?.[1]
}

/** Every (chain, index) of the table whose rule jumps to `target` (plain jump rules only). */
function jumpsTo(saved: Saved, table: string, target: string): { chain: string; index: number; rule: string }[] {
  const out: { chain: string; index: number; rule: string }[] = []
  for (const [chain, rules] of saved.get(table)?.rules ?? []) {
    rules.forEach((rule, index) => {
      if (jumpTarget(rule) === target || new RegExp(`(^| )-[jg] ${escapeRegExp(target)}( |$)`).test(rule)) out.push({ chain, index, rule })
    })
  }
  return out
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')
}

/** The restore script that brings `saved` to `wanted` (empty when already there). */
export function planApply(wanted: ChainSpec[], saved: Saved): Plan {
  const byTable = new Map<string, string[]>()
  const changes: string[] = []
  const lines = (t: string): string[] => {
    if (!byTable.has(t)) byTable.set(t, [])
    return byTable.get(t)!
  }
  for (const c of wanted) {
    const out = lines(c.table)
    const exists = hasChain(saved, c.table, c.chain)
    const have = rulesOf(saved, c.table, c.chain)
    if (!exists) {
      out.push(`:${c.chain} - [0:0]`)
      for (const r of c.rules) out.push(`-A ${c.chain} ${r}`)
      changes.push(`${c.table} ${c.chain} created`)
    } else if (have.length !== c.rules.length || have.some((r, i) => r !== normalizeRule(c.rules[i]!))) {
      out.push(`-F ${c.chain}`)
      for (const r of c.rules) out.push(`-A ${c.chain} ${r}`)
      changes.push(`${c.table} ${c.chain} rules rewritten`)
    }
    if (c.noJump) continue
    const jumps = jumpsTo(saved, c.table, c.chain)
    const good = jumps.length === 1 && jumps[0]!.chain === c.parent && jumps[0]!.index === 0 && jumpTarget(jumps[0]!.rule) === c.chain
    if (!good) {
      for (const j of jumps) out.push(`-D ${j.chain} ${j.rule}`)
      if (!hasChain(saved, c.table, c.parent) && c.parent !== 'FORWARD' && c.parent !== 'POSTROUTING') out.push(`:${c.parent} - [0:0]`)
      out.push(`-I ${c.parent} 1 -j ${c.chain}`)
      changes.push(jumps.length === 0 ? `${c.table} ${c.parent} jump to ${c.chain} added` : `${c.table} jump to ${c.chain} moved to the top of ${c.parent}`)
    }
  }
  // FABRIC-ISOLATION left from a config that had networks: removed after FABRIC-FORWARD no longer goes to it
  if (!wanted.some((c) => c.chain === ISOLATION_CHAIN) && hasChain(saved, 'filter', ISOLATION_CHAIN) && wanted.some((c) => c.chain === FORWARD_CHAIN)) {
    const out = lines('filter')
    for (const j of jumpsTo(saved, 'filter', ISOLATION_CHAIN)) {
      if (j.chain !== FORWARD_CHAIN) out.push(`-D ${j.chain} ${j.rule}`)
    }
    out.push(`-F ${ISOLATION_CHAIN}`, `-X ${ISOLATION_CHAIN}`)
    changes.push(`filter ${ISOLATION_CHAIN} removed (no fabric networks)`)
  }
  return { script: render(byTable), changes }
}

/** The restore script that removes fabric's chains and every jump to them. */
export function planRemove(saved: Saved, chains: { table: string; chain: string }[] = [{ table: 'filter', chain: FORWARD_CHAIN }, { table: 'filter', chain: ISOLATION_CHAIN }, { table: 'nat', chain: POSTROUTING_CHAIN }]): Plan {
  const byTable = new Map<string, string[]>()
  const changes: string[] = []
  const removed = new Set(chains.filter((c) => hasChain(saved, c.table, c.chain)).map((c) => `${c.table} ${c.chain}`))
  for (const c of chains) {
    const out = byTable.get(c.table) ?? []
    byTable.set(c.table, out)
    for (const j of jumpsTo(saved, c.table, c.chain)) {
      // a jump inside a chain that goes away with it (FABRIC-FORWARD -> FABRIC-ISOLATION)
      if (removed.has(`${c.table} ${j.chain}`)) continue
      out.push(`-D ${j.chain} ${j.rule}`)
      changes.push(`${c.table} ${j.chain} jump to ${c.chain} removed`)
    }
    if (hasChain(saved, c.table, c.chain)) {
      out.push(`-F ${c.chain}`, `-X ${c.chain}`)
      changes.push(`${c.table} ${c.chain} removed`)
    }
  }
  return { script: render(byTable), changes }
}

function render(byTable: Map<string, string[]>): string {
  let s = ''
  for (const [table, lines] of byTable) {
    if (lines.length === 0) continue
    s += `*${table}\n${lines.join('\n')}\nCOMMIT\n`
  }
  return s
}

/**
 * Docker 28's direct-routing protection: raw PREROUTING rules that drop
 * packets for a container address arriving on any other interface than its
 * bridge. Returns the local container addresses it protects.
 */
export function directRoutingDrops(saved: Saved, local: Prefix): string[] {
  const out: string[] = []
  for (const r of rulesOf(saved, 'raw', 'PREROUTING')) {
    const m = /^-d (\d+\.\d+\.\d+\.\d+)(?:\/32)? ! -i \S+ -j DROP$/.exec(r)
    if (!m) continue
    const parts = m[1]!.split('.').map(Number)
    const addr = ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0
    if (containsAddress(local, addr)) out.push(m[1]!)
  }
  return out
}

/** The same protection in ip6tables (raw PREROUTING `-d ADDR6/128 ! -i BRIDGE -j DROP`): the local container IPv6 addresses it protects. */
export function directRoutingDrops6(saved: Saved, subnet6: Prefix6): string[] {
  const out: string[] = []
  for (const r of rulesOf(saved, 'raw', 'PREROUTING')) {
    const m = /^-d ([0-9a-fA-F:.]+)(?:\/128)? ! -i \S+ -j DROP$/.exec(r)
    if (!m) continue
    const a = parseAddress6(m[1]!)
    if (a.ok && containsAddress6(subnet6, a.value)) out.push(m[1]!)
  }
  return out
}

/** Plain string order (UTF-16 code units, as `<`): localeCompare would fault ICU's collation data into the agent (~2.5 MB of RSS) */
function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
