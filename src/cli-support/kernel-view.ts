/** Reading fabric's routes straight from the kernel (when the agent is down). */
import { existsSync } from 'node:fs'
import { type RowNetwork, kernelOnlyRow, kernelOnlyRow6, sortRouteRows, sortRouteRows6 } from '../api/route-rows.js'
import { readState } from '../api/state-file.js'
import type { RouteRow } from '../api/types.js'
import { loadConfig } from '../config/fabric-config.js'
import { DEFAULT_ROUTE_PROTOCOL, parseRouteProtocol } from '../config/route-protocol.js'
import { Rtnl } from '../kernel/rtnl.js'
import type { KernelLink } from '../kernel/rtnl-codec.js'
import { type KernelRoute, type KernelRoute6, MAIN_TABLE } from '../kernel/types.js'
import { DEFAULT_CONFIG } from './flags.js'

/** Route protocol from the flag, else fabric.ini, else the agent's last state, else the default. */
export function resolveRouteProtocol(flag: string | undefined, config: string | undefined, stateDir: string): number {
  if (flag !== undefined) {
    const r = parseRouteProtocol(flag)
    if (r.ok) return r.value
    throw new Error(`--route-protocol "${flag}": ${r.error}`)
  }
  if (config !== undefined && existsSync(config)) {
    try {
      return loadConfig({ file: config }).routeProtocol
    } catch {
      /* fall through */
    }
  }
  return readState(stateDir)?.routeProtocol ?? DEFAULT_ROUTE_PROTOCOL
}

/** The fabric networks of fabric.ini (default first) to label rows read from the kernel; none when the file cannot be read. */
export function networksWhenAgentDown(flags: { config?: string }): RowNetwork[] {
  const file = flags.config ?? DEFAULT_CONFIG
  if (!existsSync(file)) return []
  try {
    const c = loadConfig({ file })
    return [{ name: 'default', pool: c.pool }, ...c.networks.map((n) => ({ name: n.name, pool: n.pool }))]
  } catch {
    return []
  }
}

/** The protocol to read from the kernel when the agent is down, from a command's agentOrKernelFlags. */
export function protocolWhenAgentDown(flags: { 'route-protocol'?: string; config?: string; 'state-dir': string }): number {
  return resolveRouteProtocol(flags['route-protocol'], flags.config ?? DEFAULT_CONFIG, flags['state-dir'])
}

/** Rows from the kernel alone (agent down): every route of fabric's protocol, IPv4 first, then IPv6. */
export function kernelRouteRows(kernel: KernelRoute[], links: KernelLink[], protocol: number, table: number, kernel6: KernelRoute6[] = []): RouteRow[] {
  const linkMap = new Map(links.map((l) => [l.index, l]))
  const why = 'agent not running: read from the kernel'
  return [
    ...sortRouteRows(kernel.filter((k) => k.protocol === protocol && k.table === table).map((k) => kernelOnlyRow(k, linkMap, 'kernel-only', why))),
    ...sortRouteRows6(kernel6.filter((k) => k.protocol === protocol && k.table === table).map((k) => kernelOnlyRow6(k, linkMap, 'kernel-only', why))),
  ]
}

export async function kernelRows(protocol: number): Promise<RouteRow[]> {
  const rtnl = new Rtnl()
  try {
    const [routes, links, routes6] = await Promise.all([rtnl.dumpRoutes(), rtnl.dumpLinks(), rtnl.dumpRoutes6().catch(() => [])])
    return kernelRouteRows(routes, links, protocol, MAIN_TABLE, routes6)
  } finally {
    rtnl.close()
  }
}
