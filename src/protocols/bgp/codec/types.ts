/** Typed BGP-4 messages, as produced by decodeMessage and consumed by encodeMessage. */
import type { Prefix } from '../../../net/ipv4.js'

/** Options negotiated on a session that change the wire format. */
export interface CodecContext {
  /** both sides advertised the 4-octet AS capability (RFC 6793): AS numbers are 4 octets */
  readonly as4: boolean
  /** RFC 8654 extended messages negotiated: messages up to 65535 octets */
  readonly extendedMessage?: boolean
}

/** An IPv6 prefix; addr is the RFC 5952 text form with host bits zero. */
export interface Prefix6 {
  readonly addr: string
  readonly len: number
}

// ---------------------------------------------------------------- OPEN

export type Capability =
  | { readonly kind: 'multiprotocol'; readonly afi: number; readonly safi: number }
  /** code 2 (RFC 2918) or 128 (pre-standard) */
  | { readonly kind: 'routeRefresh'; readonly code: 2 | 128 }
  | { readonly kind: 'enhancedRouteRefresh' }
  | { readonly kind: 'extendedMessage' }
  | { readonly kind: 'as4'; readonly asn: number }
  | {
      readonly kind: 'gracefulRestart'
      /** R bit: the sender has restarted */
      readonly restarting: boolean
      /** N bit (RFC 8538): graceful notification supported */
      readonly notification: boolean
      /** seconds, 0..4095 */
      readonly restartTime: number
      readonly families: ReadonlyArray<{ readonly afi: number; readonly safi: number; readonly forwarding: boolean }>
    }
  | { readonly kind: 'unknown'; readonly code: number; readonly data: Buffer }

export interface OpenMessage {
  readonly type: 'open'
  readonly version: number
  /** the 2-octet My Autonomous System field (AS_TRANS when the real ASN is > 65535) */
  readonly myAs: number
  /** seconds */
  readonly holdTime: number
  /** BGP identifier as uint32 */
  readonly bgpId: number
  readonly capabilities: readonly Capability[]
  /**
   * How the capabilities were laid out in optional parameters: how many
   * capabilities each Capabilities parameter held, and whether the RFC 9072
   * extended format was used. Filled by the decoder; optional when encoding
   * (default: one parameter, extended format only when it does not fit).
   */
  readonly layout?: { readonly groups: readonly number[]; readonly extended: boolean }
}

// ---------------------------------------------------------------- UPDATE

export type AsPathSegmentType = 'set' | 'sequence' | 'confedSequence' | 'confedSet'

export interface AsPathSegment {
  readonly type: AsPathSegmentType
  readonly asns: readonly number[]
}

/** Fields every attribute may carry to reproduce non-canonical flags. */
interface AttrFlags {
  /** the Extended Length bit was (or must be) set although the value is < 256 octets */
  readonly extendedLength?: boolean
  /** the Partial bit (optional transitive attributes only) */
  readonly partial?: boolean
}

export type MpReach =
  | { readonly type: 'mpReach'; readonly afi: 1; readonly safi: 1; readonly nextHop: number; readonly nlri: readonly Prefix[] }
  /**
   * IPv6 unicast (RFC 4760, next hop per RFC 2545): a 16-octet next hop is the
   * global address alone; a 32-octet one is the global address followed by a
   * link-local one. Both are RFC 5952 text (src/net/ipv6.ts), kept as sent so
   * the attribute re-encodes to the same bytes: linkLocalNextHop is present
   * exactly when the next hop had 32 octets, and may be "::" (FRR on a link
   * without IPv6) or not in fe80::/10; ipv6NextHops() (attributes.ts) gives
   * the {global, linkLocal?} pair a route should use. Any other length is a
   * decode error (RFC 7606 7.11: session reset).
   */
  | {
      readonly type: 'mpReach'
      readonly afi: 2
      readonly safi: 1
      /** the global IPv6 next hop (first 16 octets) */
      readonly nextHop: string
      /** the second 16 octets of a 32-octet next hop (RFC 2545 link-local); absent for 16 octets */
      readonly linkLocalNextHop?: string
      readonly nlri: readonly Prefix6[]
    }
  /** any other AFI/SAFI or next-hop form, kept as bytes */
  | { readonly type: 'mpReach'; readonly afi: number; readonly safi: number; readonly raw: true; readonly nextHop: Buffer; readonly nlri: Buffer }

export type MpUnreach =
  | { readonly type: 'mpUnreach'; readonly afi: 1; readonly safi: 1; readonly withdrawn: readonly Prefix[] }
  | { readonly type: 'mpUnreach'; readonly afi: 2; readonly safi: 1; readonly withdrawn: readonly Prefix6[] }
  | { readonly type: 'mpUnreach'; readonly afi: number; readonly safi: number; readonly raw: true; readonly withdrawn: Buffer }

export type PathAttribute = AttrFlags &
  (
    | { readonly type: 'origin'; readonly origin: 0 | 1 | 2 }
    | { readonly type: 'asPath'; readonly segments: readonly AsPathSegment[] }
    | { readonly type: 'nextHop'; readonly nextHop: number }
    | { readonly type: 'med'; readonly med: number }
    | { readonly type: 'localPref'; readonly localPref: number }
    | { readonly type: 'atomicAggregate' }
    | { readonly type: 'aggregator'; readonly asn: number; readonly address: number }
    | { readonly type: 'communities'; readonly communities: readonly number[] }
    | { readonly type: 'originatorId'; readonly id: number }
    | { readonly type: 'clusterList'; readonly ids: readonly number[] }
    | MpReach
    | MpUnreach
    | { readonly type: 'as4Path'; readonly segments: readonly AsPathSegment[] }
    | { readonly type: 'as4Aggregator'; readonly asn: number; readonly address: number }
    /** unrecognised optional transitive attribute, re-emitted with the Partial bit */
    | { readonly type: 'unknown'; readonly code: number; readonly flags: number; readonly data: Buffer }
  )

export type PathAttributeType = PathAttribute['type']

export const ORIGIN_IGP = 0
export const ORIGIN_EGP = 1
export const ORIGIN_INCOMPLETE = 2

/** RFC 7606 error handling approaches the decoder can ask for (session reset is a decode error). */
export type AttributeErrorAction = 'treat-as-withdraw' | 'attribute-discard'

export interface AttributeError {
  readonly action: AttributeErrorAction
  /** attribute type code concerned (0 when not attribute-specific) */
  readonly attrType: number
  /** the UPDATE Message Error subcode RFC 4271 would have used */
  readonly subcode: number
  readonly message: string
}

export interface UpdateMessage {
  readonly type: 'update'
  readonly withdrawn: readonly Prefix[]
  readonly attributes: readonly PathAttribute[]
  readonly nlri: readonly Prefix[]
  /** RFC 7606 errors found while decoding; absent when there were none */
  readonly errors?: readonly AttributeError[]
}

// ---------------------------------------------------------------- others

export interface NotificationMessage {
  readonly type: 'notification'
  readonly code: number
  readonly subcode: number
  readonly data: Buffer
  /** RFC 9003 shutdown communication (Cease 2 and 4), when the data carries a valid one */
  readonly shutdownMessage?: string
}

export interface KeepaliveMessage {
  readonly type: 'keepalive'
}

export interface RouteRefreshMessage {
  readonly type: 'routeRefresh'
  readonly afi: number
  /** RFC 7313 message subtype: 0 normal, 1 BoRR, 2 EoRR */
  readonly subtype: number
  readonly safi: number
}

export type Message = OpenMessage | UpdateMessage | NotificationMessage | KeepaliveMessage | RouteRefreshMessage
