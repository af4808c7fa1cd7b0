/**
 * BGP path attribute interning: every UPDATE's attributes become one shared,
 * immutable `Path`, interned per peer (equal attribute sets from one peer are
 * one object) and reference counted by the routes using it; and the Route
 * view of one prefix and peer (`BgpRoute`) that points at it.
 *
 * Memory is the design constraint (a million prefixes from one peer): the
 * Loc-RIB stores a route as its prefix, its learn time and its Path in a
 * compact table; a BgpRoute (address, length, the shared display attributes,
 * learn time) is made only when a Route is asked for, and its Path is found
 * through a symbol on those attributes.
 */
import type { Prefix } from '../../net/ipv4.js'
import type { Route, RouteAttrs } from '../../rib/route.js'
import { asPathLength } from './codec/attributes.js'
import type { AsPathSegment, PathAttribute } from './codec/types.js'
import type { PeerRib } from './peer-rib.js'

/** Where a route's shared Path hides on its (shared) display attributes; JSON ignores symbols. */
export const PATH = Symbol('bgp-path')

export const DEFAULT_LOCAL_PREF = 100

export type Origin = 0 | 1 | 2

const ORIGIN_NAMES = ['igp', 'egp', 'incomplete'] as const

/** The attributes a path is exported with to one kind of peer, and their encoded length. */
export interface ExportedAttributes {
  readonly attributes: PathAttribute[]
  /** octets of the encoded path attributes */
  readonly length: number
}

export interface DisplayAttrs extends RouteAttrs {
  [PATH]: Path
}

/** One set of path attributes, shared by every prefix announced with it. */
export class Path {
  refs = 0
  /** intern key (per peer) */
  key = ''
  readonly display: DisplayAttrs
  /** exports per kind of peer (a small integer: export-policy.ts exportAttributes), made on first use */
  private exportCache: (ExportedAttributes | undefined)[] | undefined

  constructor(
    /** the peer it was learned from; undefined for our own subnet */
    readonly from: PeerRib | undefined,
    readonly nextHop: number,
    readonly origin: Origin,
    readonly segments: readonly AsPathSegment[],
    readonly med: number | undefined,
    readonly localPref: number,
    readonly originatorId: number | undefined,
    readonly clusterList: readonly number[],
    /** transitive attributes passed on unchanged: ATOMIC_AGGREGATE, AGGREGATOR, COMMUNITIES, unknown */
    readonly transitive: readonly PathAttribute[],
  ) {
    this.asPathLen = asPathLength(segments)
    const first = segments[0]
    this.neighborAs = first && first.type === 'sequence' && first.asns.length > 0 ? first.asns[0]! : 0
    this.ibgp = from ? from.peer.ibgp : false
    const flat: number[] = []
    for (const s of segments) for (const a of s.asns) flat.push(a)
    const display: DisplayAttrs = {
      asPath: flat, localPref, origin: ORIGIN_NAMES[origin], ibgp: this.ibgp,
      ...(med !== undefined ? { med } : {}),
      [PATH]: this,
    }
    this.display = display
  }

  readonly asPathLen: number
  /** first AS of the path (0 when empty: learned inside our AS) */
  readonly neighborAs: number
  readonly ibgp: boolean

  /** The export of this path for one kind of peer (a small integer, export-policy.ts), if made already. */
  exportFor(kind: number): ExportedAttributes | undefined {
    return this.exportCache?.[kind]
  }

  /** Remembers the export of this path for one kind of peer; returns it. */
  keepExport(kind: number, e: ExportedAttributes): ExportedAttributes {
    const cache = (this.exportCache ??= [])
    cache[kind] = e
    return e
  }
}

/** The path of what this host originates (its own subnet): next hop our underlay address. */
export function localPath(localAddress: number): Path {
  return new Path(undefined, localAddress, 0, [], undefined, DEFAULT_LOCAL_PREF, undefined, [], [])
}

/**
 * A route learned from a peer, as the RIB, the FIB and the CLI see it: made
 * on demand from a Loc-RIB slot (loc-rib.ts keeps no object per route) and
 * not kept. Address, length, learn time and the shared attributes; the rest
 * is read from the shared Path. It is its own `prefix`.
 */
export class BgpRoute implements Route {
  constructor(
    readonly addr: number,
    readonly len: number,
    readonly attrs: DisplayAttrs,
    /** seconds since the epoch */
    readonly since: number = Math.floor(Date.now() / 1000),
  ) {}
  get prefix(): Prefix {
    return this
  }
  get nextHop(): number {
    return this.attrs[PATH].nextHop
  }
  get source(): 'bgp' {
    return 'bgp'
  }
  get peer(): string {
    return this.attrs[PATH].from?.peer.key ?? 'local'
  }
  get metric(): number {
    return this.attrs[PATH].med ?? 0
  }
  get preference(): number {
    return 0
  }
  toJSON(): Record<string, unknown> {
    return { prefix: { addr: this.addr, len: this.len }, nextHop: this.nextHop, source: 'bgp', peer: this.peer, metric: this.metric, preference: 0, attrs: this.attrs }
  }
}

export function pathOf(r: Route): Path {
  return (r.attrs as DisplayAttrs)[PATH]
}

function bufferKey(_k: string, v: unknown): unknown {
  return v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v
}

/**
 * The shared Path for these attributes from peer p: the one already in p's
 * intern map, or a new one entered there. A new path has no references yet:
 * the caller drops it again (forgetUnused) if no route ends up using it.
 */
export function internPath(
  p: PeerRib,
  nextHop: number,
  origin: Origin,
  segments: readonly AsPathSegment[],
  med: number | undefined,
  localPref: number | undefined,
  originatorId: number | undefined,
  clusterList: readonly number[],
  transitive: readonly PathAttribute[],
): Path {
  const key = JSON.stringify([nextHop, origin, segments, med, localPref, originatorId, clusterList, transitive], bufferKey)
  const known = p.paths.get(key)
  if (known) return known
  const path = new Path(p, nextHop, origin, segments, med, localPref ?? DEFAULT_LOCAL_PREF, originatorId, clusterList, transitive)
  path.key = key
  p.paths.set(key, path)
  return path
}

/** A route stopped using the path: the last one takes it out of its peer's intern map. */
export function releasePath(path: Path): void {
  // a stale path (graceful restart) is no longer in its peer's intern map
  if (--path.refs === 0 && path.from && path.from.paths.get(path.key) === path) path.from.paths.delete(path.key)
}

/** Drops a freshly interned path that no route took (all its prefixes were refused). */
export function forgetUnused(path: Path): void {
  if (path.refs === 0 && path.from) path.from.paths.delete(path.key)
}
