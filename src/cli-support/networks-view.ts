/** The per-network part of `fabric status` (and `fabric leave`'s report of fabric's Docker networks). */
import { renderTable } from '../api/render.js'
import type { LeaveResponse, NetworkStatusView } from '../api/types.js'

/** One row per fabric network: subnet, Docker network, bridge, isolation, routes to the other hosts. */
export function renderNetworks(nets: readonly NetworkStatusView[]): string {
  const yn = (v: boolean | null | undefined, yes: string, no: string): string => (v === null || v === undefined ? '-' : v ? yes : no)
  const rows = nets.map((n) => {
    const h = n.host
    const docker = h === undefined ? '(docker0, above)' : h.docker === null ? 'not used' : !h.docker.present ? 'ABSENT' : h.docker.fits ? `ok ${h.docker.id ?? ''}`.trim() : `MISFIT: ${h.docker.problems.join('; ')}`
    const bridge = h === undefined ? '-' : `${h.bridge ?? '-'}${h.bridge ? ` ${yn(h.bridgeUp, 'up', 'DOWN')}` : ''}`
    const isolation = h === undefined ? '-' : yn(h.isolation, 'in place', 'NOT in place')
    const routes = `${n.routes.installed}/${n.routes.peers} hosts${n.routes.missing.length ? `, missing ${n.routes.missing.join(' ')}` : ''}`
    return [n.name, n.pool, n.subnet, docker, bridge, isolation, routes, n.ok ? 'ok' : 'PROBLEM']
  })
  return renderTable(['NETWORK', 'POOL', 'SUBNET', 'DOCKER', 'BRIDGE', 'ISOLATION', 'ROUTES', 'STATE'], rows)
}

/** What `fabric leave` did with fabric's Docker networks. */
export function renderLeftNetworks(n: NonNullable<LeaveResponse['networks']>): string[] {
  const out: string[] = []
  if (n.removed.length > 0) out.push(`removed Docker networks ${n.removed.join(', ')}`)
  for (const k of n.kept) out.push(`kept Docker network ${k.name}: in use${k.containers.length ? ` by ${k.containers.join(', ')}` : ''}; remove it with docker network rm ${k.name} once its containers are gone`)
  return out
}
