/**
 * This host's subnet in every fabric network, decided at identification
 * (before anything on the host changes):
 *
 *   listed host ([host.NAME])   its subnet.NETWORK keys, else the derived
 *                               subnet (config/networks.ts: the default
 *                               subnet's slot), as loadConfig computed them
 *   joined by flags (rip/bgp)   allocated like the automatic default subnet
 *                               (host/ipam.ts), one state dir per network
 *                               (STATE/networks/NAME/ipam.json): the default
 *                               subnet's slot when free, else hashed/probed;
 *                               [host.*] subnets and subnets learned from the
 *                               fabric inside that network's pool avoided;
 *                               persisted, kept across restarts
 *
 * The result is SelfInfo.networks: the default network first.
 */
import { join } from 'node:path'
import type { FabricConfig, HostEntry } from '../config/fabric-config.js'
import { DEFAULT_NETWORK, derivedSubnet } from '../config/networks.js'
import { AgentStartError, EXIT } from '../core/errors.js'
import type { Logger } from '../core/log.js'
import type { SelfNetwork } from '../core/self.js'
import { allocateSubnet } from '../host/ipam.js'
import { type Prefix, containsPrefix, formatPrefix, overlaps } from '../net/ipv4.js'

export interface NetworkSubnetsInput {
  config: FabricConfig
  /** this host's [host.*] entry, when it has one */
  entry: HostEntry | undefined
  /** this host's default subnet */
  subnet: Prefix
  address: number
  stateDir: string
  log: Logger
  /** subnets other hosts announce (subnet discovery), any pool */
  learned?: Prefix[]
}

/** The state dir of a network's automatic subnet. */
export function networkStateDir(stateDir: string, network: string): string {
  return join(stateDir, 'networks', network)
}

/** This host's networks, the default first; refuses (exit 2) when a network has no subnet left. */
export function resolveNetworkSubnets(o: NetworkSubnetsInput): SelfNetwork[] {
  const { config } = o
  const out: SelfNetwork[] = [{ name: DEFAULT_NETWORK, subnet: o.subnet, pool: config.pool }]
  for (const n of config.networks) {
    const listed = o.entry?.networks?.[n.name]
    if (listed !== undefined) {
      out.push({ name: n.name, subnet: listed, pool: n.pool })
      continue
    }
    const taken = [
      ...config.hosts.filter((h) => h.address !== o.address).map((h) => h.networks?.[n.name]).filter((p): p is Prefix => p !== undefined),
      ...(o.learned ?? []).filter((p) => containsPrefix(n.pool, p) || overlaps(n.pool, p)),
    ]
    const preferred = derivedSubnet(config.pool, o.subnet, n)
    const r = allocateSubnet({ pool: n.pool, hostPrefix: n.hostPrefix, taken, address: o.address, stateDir: networkStateDir(o.stateDir, n.name), preferred })
    if (!r.ok) throw new AgentStartError(`network ${n.name}: automatic subnet allocation: ${r.error}; list this host as a [host.*] with subnet.${n.name} = CIDR`, EXIT.USAGE)
    o.log.info('subnet-allocated', { network: n.name, subnet: formatPrefix(r.subnet), pool: formatPrefix(n.pool), hostPrefix: n.hostPrefix, how: r.reason, taken: taken.length })
    out.push({ name: n.name, subnet: r.subnet, pool: n.pool })
  }
  return out
}

/** Every fabric pool (default first): the next-hop rules' container pools, the import policies' accepted ranges. */
export function networkPools(config: Pick<FabricConfig, 'pool' | 'networks'>): Prefix[] {
  return [config.pool, ...config.networks.map((n) => n.pool)]
}

/** The fabric network whose pool contains a prefix ('default' for [fabric] pool), if any. */
export function networkOf(config: Pick<FabricConfig, 'pool' | 'networks'>, p: Prefix): string | undefined {
  if (containsPrefix(config.pool, p)) return DEFAULT_NETWORK
  return config.networks.find((n) => containsPrefix(n.pool, p))?.name
}
