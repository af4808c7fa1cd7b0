import { ERRNO } from './errno.js'
import { OP, type KernelPort, type KernelPort6, RouteBatch, RouteBatch6 } from './port.js'
import { type KernelRoute, type KernelRoute6, MAIN_TABLE } from './types.js'

export interface RemoveCounts {
  /** routes this call deleted */
  removed: number
  /** routes already gone when their delete arrived (ESRCH): someone else removed them */
  alreadyGone: number
  failed: number
}

/** Both families together; `ipv6` is the IPv6 share, present when the port speaks IPv6. */
export interface RemoveResult extends RemoveCounts {
  ipv6?: RemoveCounts
}

type RemovePort = Pick<KernelPort, 'streamRoutes' | 'applyBatch'> & Partial<Pick<KernelPort6, 'streamRoutes6' | 'applyBatch6'>>

function count(errnos: Int32Array): RemoveCounts {
  let removed = 0
  let alreadyGone = 0
  for (const e of errnos) {
    if (e === 0) removed++
    else if (e === ERRNO.ESRCH) alreadyGone++
  }
  return { removed, alreadyGone, failed: errnos.length - removed - alreadyGone }
}

/**
 * Deletes every route of `protocol` in a table (for `fabric leave`): IPv4,
 * and IPv6 too when the port has the IPv6 half (Rtnl does). Each delete
 * names the route's metric, gateway and interface, so it removes exactly
 * that route.
 */
export async function removeProtocolRoutes(port: RemovePort, protocol: number, table = MAIN_TABLE): Promise<RemoveResult> {
  const ours: KernelRoute[] = []
  await port.streamRoutes((r) => {
    if (r.protocol === protocol && r.table === table) ours.push(r)
  }, table)
  const batch = new RouteBatch(ours.length, table, protocol)
  for (const r of ours) batch.push(OP.DELETE, r.prefix, r.gateway, r.metric)
  const v4 = count(ours.length === 0 ? new Int32Array(0) : await port.applyBatch(batch))
  if (port.streamRoutes6 === undefined || port.applyBatch6 === undefined) return v4
  const v6 = await removeProtocolRoutes6(port as Pick<KernelPort6, 'streamRoutes6' | 'applyBatch6'>, protocol, table)
  return { removed: v4.removed + v6.removed, alreadyGone: v4.alreadyGone + v6.alreadyGone, failed: v4.failed + v6.failed, ipv6: v6 }
}

/** Deletes every IPv6 route of `protocol` in a table. */
export async function removeProtocolRoutes6(port: Pick<KernelPort6, 'streamRoutes6' | 'applyBatch6'>, protocol: number, table = MAIN_TABLE): Promise<RemoveCounts> {
  const ours: KernelRoute6[] = []
  await port.streamRoutes6((r) => {
    if (r.protocol === protocol && r.table === table) ours.push(r)
  }, table)
  const batch = new RouteBatch6(table, protocol)
  // a metric is always sent (an IPv6 delete without one would match any); a dumped route always has one
  for (const r of ours) batch.push(OP.DELETE, r.prefix, r.gateway, r.oif, Math.max(1, r.metric))
  return count(ours.length === 0 ? new Int32Array(0) : await port.applyBatch6(batch))
}
