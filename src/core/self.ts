import type { Prefix } from '../net/ipv4.js'
import type { Prefix6 } from '../net/ipv6.js'

/** One fabric network as this host has it: the default network (docker0) or a [network.NAME]. */
export interface SelfNetwork {
  /** 'default' for docker0's ([fabric] pool), else the [network.NAME] name */
  name: string
  /** this host's subnet of the network */
  subnet: Prefix
  /** the network's pool */
  pool: Prefix
}

/** This host, as the agent identified it at start. */
export interface SelfInfo {
  /** [host.*] name, or the hostname when joining by flags only */
  name: string
  /** underlay address */
  address: number
  /** this host's container subnet (docker0) */
  subnet: Prefix
  /** the underlay interface (holds `address`) */
  interface: string
  /** the underlay interface's connected network */
  underlay: Prefix
  /**
   * Every fabric network of this host, the default network first (its subnet
   * is `subnet`). Absent: the default network alone (see selfNetworks).
   */
  networks?: SelfNetwork[]
  /**
   * IPv6 (dual-stack host): all four set together, or none (an IPv4-only
   * host). address6 is this host's global underlay IPv6 address (RFC 5952
   * text) on `interface`; underlay6 its connected prefix there; subnet6 this
   * host's container subnet inside pool6 (docker0's fixed-cidr-v6).
   */
  address6?: string
  underlay6?: Prefix6
  subnet6?: Prefix6
  pool6?: Prefix6
}

/** The [network.NAME] subnets of this host (the default network left out): what is announced besides `subnet`. */
export function extraSubnets(self: Pick<SelfInfo, 'networks'>): Prefix[] {
  return (self.networks ?? []).filter((n) => n.name !== 'default').map((n) => n.subnet)
}
