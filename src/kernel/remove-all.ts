import { ERRNO } from './errno.js'
import { OP, type KernelPort, RouteBatch } from './port.js'
import { type KernelRoute, MAIN_TABLE } from './types.js'

export interface RemoveResult {
  /** routes this call deleted */
  removed: number
  /** routes already gone when their delete arrived (ESRCH): someone else removed them */
  alreadyGone: number
  failed: number
}

/** Deletes every route of `protocol` in a table (for `fabric leave`). */
export async function removeProtocolRoutes(port: Pick<KernelPort, 'streamRoutes' | 'applyBatch'>, protocol: number, table = MAIN_TABLE): Promise<RemoveResult> {
  const ours: KernelRoute[] = []
  await port.streamRoutes((r) => {
    if (r.protocol === protocol && r.table === table) ours.push(r)
  }, table)
  const batch = new RouteBatch(ours.length, table, protocol)
  for (const r of ours) batch.push(OP.DELETE, r.prefix, r.gateway, r.metric)
  const errnos = ours.length === 0 ? new Int32Array(0) : await port.applyBatch(batch)
  let removed = 0
  let alreadyGone = 0
  for (const e of errnos) {
    if (e === 0) removed++
    else if (e === ERRNO.ESRCH) alreadyGone++
  }
  return { removed, alreadyGone, failed: errnos.length - removed - alreadyGone }
}
