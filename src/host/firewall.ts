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
 * Planning is pure (iptables-save text in, restore script out) so it is
 * unit-tested; applying is one `iptables-restore --noflush` per change.
 * Other chains are never touched except to add or remove the jump rules.
 */
import { containsAddress, formatPrefix, type Prefix } from '../net/ipv4.js'
import { type Saved, hasChain, normalizeRule, rulesOf } from './iptables.js'

export const FORWARD_CHAIN = 'FABRIC-FORWARD'
export const POSTROUTING_CHAIN = 'FABRIC-POSTROUTING'

export interface FirewallSpec {
  pool: Prefix
  /** this host's container subnet */
  local: Prefix
  /** masquerade the local subnet to destinations outside the pool (default true) */
  masquerade: boolean
}

export interface ChainSpec {
  table: string
  chain: string
  rules: string[]
  /** the chain the single jump rule lives in, as its first rule */
  parent: string
}

export interface Plan {
  /** iptables-restore --noflush input; empty when everything is in place */
  script: string
  /** what is changed, for the log */
  changes: string[]
}

/** The chains and rules fabric wants, for the current state of the tables (DOCKER-USER or FORWARD). */
export function desiredChains(spec: FirewallSpec, saved: Saved): ChainSpec[] {
  const pool = formatPrefix(spec.pool)
  const local = formatPrefix(spec.local)
  const forwardRules = [`-s ${pool} -d ${local} -j ACCEPT`, `-s ${local} -d ${pool} -j ACCEPT`]
  const natRules = [`-s ${local} -d ${pool} -j ACCEPT`]
  if (spec.masquerade) natRules.push(`-s ${local} -j MASQUERADE`)
  return [
    { table: 'filter', chain: FORWARD_CHAIN, rules: forwardRules, parent: forwardParent(saved) },
    { table: 'nat', chain: POSTROUTING_CHAIN, rules: natRules, parent: 'POSTROUTING' },
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
    const jumps = jumpsTo(saved, c.table, c.chain)
    const good = jumps.length === 1 && jumps[0]!.chain === c.parent && jumps[0]!.index === 0 && jumpTarget(jumps[0]!.rule) === c.chain
    if (!good) {
      for (const j of jumps) out.push(`-D ${j.chain} ${j.rule}`)
      if (!hasChain(saved, c.table, c.parent) && c.parent !== 'FORWARD' && c.parent !== 'POSTROUTING') out.push(`:${c.parent} - [0:0]`)
      out.push(`-I ${c.parent} 1 -j ${c.chain}`)
      changes.push(jumps.length === 0 ? `${c.table} ${c.parent} jump to ${c.chain} added` : `${c.table} jump to ${c.chain} moved to the top of ${c.parent}`)
    }
  }
  return { script: render(byTable), changes }
}

/** The restore script that removes fabric's chains and every jump to them. */
export function planRemove(saved: Saved, chains: { table: string; chain: string }[] = [{ table: 'filter', chain: FORWARD_CHAIN }, { table: 'nat', chain: POSTROUTING_CHAIN }]): Plan {
  const byTable = new Map<string, string[]>()
  const changes: string[] = []
  for (const c of chains) {
    const out = byTable.get(c.table) ?? []
    byTable.set(c.table, out)
    for (const j of jumpsTo(saved, c.table, c.chain)) {
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
