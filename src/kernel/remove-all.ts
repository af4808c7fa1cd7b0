import type { Rtnl } from './rtnl.js'
import { MAIN_TABLE } from './types.js'

/** Deletes every route of `protocol` in the main table (for `fabric leave`). Returns how many went. */
export async function removeProtocolRoutes(rtnl: Rtnl, protocol: number, table = MAIN_TABLE): Promise<{ removed: number; failed: number }> {
  const ours = (await rtnl.dumpRoutes()).filter((r) => r.protocol === protocol && r.table === table)
  const results = await rtnl.applyRoutes(ours.map((r) => ({ kind: 'delete' as const, spec: { prefix: r.prefix, table, protocol, metric: r.metric, gateway: r.gateway } })))
  const failed = results.filter((r) => r.errno !== 0 && r.errno !== 3).length
  return { removed: results.length - failed, failed }
}
