import type { Prefix } from '../net/ipv4.js'
import type { Route, SourceKind } from './route.js'

/** Where a source emits its routes (the RIB). */
export interface RouteSink {
  add(route: Route): void
  withdraw(prefix: Prefix, source: SourceKind, peer: string): void
  withdrawPeer(source: SourceKind, peer: string): number
}

/** Per-peer view a source reports for `fabric peers` / status. */
export interface PeerStatus {
  peer: string
  address: string
  state: string
  since?: number
  received?: number
  accepted?: number
  sent?: number
  lastError?: string
}

/** A way of learning routes. Sources never touch the kernel. */
export interface RouteSource {
  readonly kind: SourceKind
  start(sink: RouteSink): Promise<void>
  stop(): Promise<void>
  /**
   * True once the source has its initial table (static: at once; BGP: after
   * End-of-RIB; RIP: after the first update interval). Until every source is
   * ready, FIB sync adopts the kernel's routes and deletes none.
   */
  ready(): boolean
  peers(): PeerStatus[]
}
