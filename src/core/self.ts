import type { Prefix } from '../net/ipv4.js'

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
}
