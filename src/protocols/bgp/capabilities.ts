/**
 * The one list of capabilities this speaker supports (RFC 5492): what our
 * OPEN advertises, what negotiation looks for, and what `fabric peers`
 * reports as negotiated all come from this table.
 */
import { AFI_IPV4, AFI_IPV6, CapabilityCode, SAFI_UNICAST } from './codec/constants.js'
import type { Capability } from './codec/types.js'

/** What negotiation found, as far as this table needs it (fsm.ts Negotiated; declared here so fsm.ts may import this file) */
export interface NegotiatedView {
  readonly families: ReadonlyArray<{ readonly afi: number; readonly safi: number }>
  readonly routeRefresh: boolean
  readonly as4: boolean
  readonly gracefulRestart?: unknown
}
type Negotiated = NegotiatedView

export interface SupportedCapability {
  readonly kind: Capability['kind']
  readonly code: number
  /** as `fabric peers` shows it */
  readonly name: string
  readonly rfc: string
  /** whether both sides have it, from the negotiated session */
  readonly negotiated: (n: Negotiated) => boolean
}

export const SUPPORTED_CAPABILITIES: readonly SupportedCapability[] = [
  { kind: 'multiprotocol', code: CapabilityCode.MULTIPROTOCOL, name: 'ipv4-unicast', rfc: 'RFC 4760', negotiated: (n) => n.families.some((f) => f.afi === AFI_IPV4 && f.safi === SAFI_UNICAST) },
  // advertised by a dual-stack host only (SelfInfo.subnet6 set): an IPv4-only host's OPEN is as before
  { kind: 'multiprotocol', code: CapabilityCode.MULTIPROTOCOL, name: 'ipv6-unicast', rfc: 'RFC 4760, RFC 2545', negotiated: (n) => hasIpv6Unicast(n) },
  { kind: 'routeRefresh', code: CapabilityCode.ROUTE_REFRESH, name: 'route-refresh', rfc: 'RFC 2918', negotiated: (n) => n.routeRefresh },
  { kind: 'as4', code: CapabilityCode.AS4, name: '4-octet-as', rfc: 'RFC 6793', negotiated: (n) => n.as4 },
  // advertised when a restart time is configured: F for IPv4 unicast (fabric's kernel routes stay
  // across an agent restart), N (RFC 8538), R after a restart (graceful-restart.ts)
  { kind: 'gracefulRestart', code: CapabilityCode.GRACEFUL_RESTART, name: 'graceful-restart', rfc: 'RFC 4724', negotiated: (n) => n.gracefulRestart !== undefined },
]

export interface LocalCapabilityOptions {
  readonly localAs: number
  /** seconds advertised in the graceful restart capability; 0: not advertised */
  readonly gracefulRestartTime?: number
  /** R bit: this speaker restarted within the restart time and is still deferring (RFC 4724 3) */
  readonly restarting?: boolean
  /** a dual-stack host: IPv6 unicast (AFI 2 SAFI 1) advertised besides IPv4, and listed with F in graceful restart */
  readonly ipv6?: boolean
}

/** Whether a session negotiated IPv6 unicast (both OPENs listed AFI 2 SAFI 1). */
export function hasIpv6Unicast(n: Pick<Negotiated, 'families'>): boolean {
  return n.families.some((f) => f.afi === AFI_IPV6 && f.safi === SAFI_UNICAST)
}

/** Our OPEN's capabilities, from SUPPORTED_CAPABILITIES. */
export function localCapabilities(o: LocalCapabilityOptions): Capability[] {
  const out: Capability[] = []
  for (const c of SUPPORTED_CAPABILITIES) {
    switch (c.kind) {
      case 'multiprotocol':
        if (c.name === 'ipv4-unicast') out.push({ kind: 'multiprotocol', afi: AFI_IPV4, safi: SAFI_UNICAST })
        else if (o.ipv6) out.push({ kind: 'multiprotocol', afi: AFI_IPV6, safi: SAFI_UNICAST })
        break
      case 'routeRefresh': out.push({ kind: 'routeRefresh', code: CapabilityCode.ROUTE_REFRESH }); break
      case 'as4': out.push({ kind: 'as4', asn: o.localAs }); break
      case 'gracefulRestart':
        if ((o.gracefulRestartTime ?? 0) > 0) {
          // F for both families: the kernel keeps fabric's IPv4 and IPv6 routes across an agent restart
          const families = [{ afi: AFI_IPV4, safi: SAFI_UNICAST, forwarding: true }, ...(o.ipv6 ? [{ afi: AFI_IPV6, safi: SAFI_UNICAST, forwarding: true }] : [])]
          out.push({ kind: 'gracefulRestart', restarting: o.restarting ?? false, notification: true, restartTime: o.gracefulRestartTime!, families })
        }
        break
      default: break
    }
  }
  return out
}

/** Names of the capabilities a session negotiated, for `fabric peers`. */
export function negotiatedCapabilities(n: Negotiated): string[] {
  return SUPPORTED_CAPABILITIES.filter((c) => c.negotiated(n)).map((c) => c.name)
}
