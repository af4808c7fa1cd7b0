/**
 * `fabric doctor` for fabric networks ([network.NAME]): one check per
 * network from the agent's status (Docker network present with the right
 * subnet, bridge up, isolation rules in place, a route for every other
 * host's subnet of the network), and one check of the isolation chain read
 * from iptables itself (a DROP per pool), so a stopped agent is diagnosed too.
 */
import type { DoctorCheck, StatusResponse } from '../api/types.js'
import type { FabricConfig } from '../config/fabric-config.js'
import { ISOLATION_CHAIN } from '../host/firewall.js'
import { formatPrefix } from '../net/ipv4.js'
import { run } from '../util/process.js'

export interface NetworkDoctorInput {
  config?: FabricConfig
  status?: StatusResponse
}

/** The isolation chain's rules (iptables -S), undefined when it cannot be read or does not exist. */
async function isolationRules(): Promise<string[] | undefined> {
  const r = await run('iptables', ['-w', '5', '-t', 'filter', '-S', ISOLATION_CHAIN], { timeoutMs: 10_000 }).catch(() => undefined)
  if (r?.code !== 0) return undefined
  return r.stdout.split('\n').filter(Boolean)
}

/** Pure: the per-network checks from the status and the isolation chain as read. */
export function networkChecks(input: NetworkDoctorInput, isolation: string[] | undefined | 'unreadable'): DoctorCheck[] {
  const c = input.config
  if (!c || c.networks.length === 0) return []
  const out: DoctorCheck[] = []
  const pools = [c.pool, ...c.networks.map((n) => n.pool)].map(formatPrefix)
  if (isolation === 'unreadable') out.push({ name: 'network isolation', result: 'skip', detail: 'iptables is not installed or cannot be read' })
  else if (isolation === undefined) out.push({ name: 'network isolation', result: 'fail', detail: `no ${ISOLATION_CHAIN} chain: traffic between fabric networks is not dropped on this host`, fix: 'start the agent with its firewall integration (the default); it creates the chain' })
  else {
    const missing = pools.filter((p) => !isolation.some((l) => l.includes(`-s ${p}`) && /-j DROP/.test(l)))
    if (missing.length === 0) out.push({ name: 'network isolation', result: 'pass', detail: `${ISOLATION_CHAIN} drops traffic between the ${pools.length} fabric networks (${pools.join(', ')}) unless allowed` })
    else out.push({ name: 'network isolation', result: 'fail', detail: `${ISOLATION_CHAIN} has no DROP for ${missing.join(', ')}`, fix: 'restart the agent (it rewrites its chains); another tool changed them' })
  }
  const views = input.status?.networks
  if (!input.status) {
    out.push({ name: 'networks', result: 'skip', detail: 'agent not running: Docker networks and routes per network not checked' })
    return out
  }
  if (!views) {
    out.push({ name: 'networks', result: 'warn', detail: 'the agent reports no networks: it runs an older config; restart it to apply the [network.*] sections' })
    return out
  }
  for (const v of views) {
    const problems: string[] = []
    const notes: string[] = [`subnet ${v.subnet} of ${v.pool}`]
    const h = v.host
    if (h) {
      if (h.docker === null) notes.push('Docker not used')
      else if (!h.docker.present) problems.push(`Docker network ${v.name} absent`)
      else if (!h.docker.fits) problems.push(`Docker network ${v.name} does not fit: ${h.docker.problems.join('; ')}`)
      else notes.push(`Docker network ${v.name} ${h.docker.id ?? ''}`.trim())
      if (h.bridge && h.bridgeUp === false) problems.push(`bridge ${h.bridge} is down or absent`)
      else if (h.bridge) notes.push(`bridge ${h.bridge} up`)
      if (h.isolation === false) problems.push('isolation rules not in sync')
    }
    const r = v.routes
    if (r.missing.length > 0) problems.push(`no installed route to ${r.missing.join(', ')}'s subnet${r.missing.length > 1 ? 's' : ''}`)
    else notes.push(`routes to all ${r.peers} other hosts`)
    const name = `network ${v.name}`
    if (problems.length === 0) out.push({ name, result: 'pass', detail: notes.join(', ') })
    else {
      const onlyRoutes = problems.length === 1 && r.missing.length > 0
      out.push({
        name, result: onlyRoutes ? 'warn' : 'fail', detail: problems.join('; '),
        fix: onlyRoutes ? '`fabric routes --network ' + v.name + '` shows their state; `fabric peers` whether those hosts are up' : 'see the agent log (fabric join refuses a Docker network that does not fit; remove it and restart the agent)',
      })
    }
  }
  return out
}

/** The network checks, added to doctor's list. */
export async function checkNetworks(input: NetworkDoctorInput, add: (c: DoctorCheck) => void): Promise<void> {
  if (!input.config || input.config.networks.length === 0) return
  const which = await run('sh', ['-c', 'command -v iptables'])
  const rules = which.code !== 0 ? 'unreadable' as const : await isolationRules()
  for (const c of networkChecks(input, rules)) add(c)
}
