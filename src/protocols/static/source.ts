/**
 * Static mode: every [host.*] of fabric.ini other than this host becomes the
 * route `SUBNET via ADDRESS`, and one route per fabric network it has a
 * subnet of (`subnet.NETWORK`, or derived: HostEntry.networks). A reload diffs the old and new host lists, so a
 * host added, removed or moved changes only its own route; the Route of a
 * host that did not change is kept as it is (its AGE goes on).
 *
 * IPv6 (dual-stack host: the agent passes its Rib6 as sink6): every other
 * host with address6 and subnet6 becomes `SUBNET6 via ADDRESS6 dev IFACE`
 * (IFACE: this host's underlay interface), diffed on reload the same way.
 */
import type { FabricConfig, HostEntry } from '../../config/fabric-config.js'
import { type Prefix, formatAddress, formatPrefix } from '../../net/ipv4.js'
import { formatPrefix6 } from '../../net/ipv6.js'
import type { RibRoute6 } from '../../rib/rib6.js'
import type { Route } from '../../rib/route.js'
import type { CreateSource, PeerStatus, RouteSink, RouteSink6, RouteSource } from '../../rib/source.js'

export function staticRoute(h: HostEntry, since: number, subnet = h.subnet): Route {
  return { prefix: subnet, nextHop: h.address, source: 'static', peer: h.name, metric: 0, attrs: { hostName: h.name }, since }
}

/** The IPv6 route to a host (address6 and subnet6 set), through this host's underlay interface. */
export function staticRoute6(h: HostEntry, iface: string, since: number): RibRoute6 | undefined {
  if (h.address6 === undefined || h.subnet6 === undefined) return undefined
  return { prefix: h.subnet6, nextHop: h.address6, interface: iface, source: 'static', peer: h.name, metric: 0, since }
}

/** A host's routes: its default subnet first, then one per network (sorted by network name), keyed by network. */
function hostSubnets(h: HostEntry): [string, Prefix][] {
  return [['', h.subnet], ...Object.entries(h.networks ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]
}

export interface StaticChange {
  added: string[]
  removed: string[]
  moved: string[]
}

export class StaticSource implements RouteSource {
  readonly kind = 'static' as const
  private sink: RouteSink | undefined
  /** by host name: the routes emitted for it, by network ('' for the default) */
  private current = new Map<string, Map<string, Route>>()
  private sink6: RouteSink6 | undefined
  /** by host name: the IPv6 route emitted for it */
  private current6 = new Map<string, RibRoute6>()

  /** iface: this host's underlay interface, the dev of the IPv6 routes */
  constructor(private hosts: readonly HostEntry[], private readonly selfName: string, private readonly now: () => number = Date.now, private readonly iface = '') {}

  async start(sink: RouteSink, sink6?: RouteSink6): Promise<void> {
    this.sink = sink
    this.sink6 = sink6
    this.apply(this.hosts)
  }

  async stop(): Promise<void> {
    this.sink = undefined
    this.sink6 = undefined
  }

  ready(): boolean {
    return this.sink !== undefined
  }

  /** Replaces the host list (SIGHUP); returns what changed, by host name. */
  update(hosts: readonly HostEntry[]): StaticChange {
    this.hosts = hosts
    return this.apply(hosts)
  }

  async reload(config: FabricConfig): Promise<string> {
    const c = this.update(config.hosts)
    const parts = [['added', c.added], ['removed', c.removed], ['moved', c.moved]] as const
    return parts.filter(([, names]) => names.length > 0).map(([what, names]) => `${what} ${names.join(' ')}`).join('; ') || 'no host changed'
  }

  private apply(hosts: readonly HostEntry[]): StaticChange {
    const sink = this.sink
    const change: StaticChange = { added: [], removed: [], moved: [] }
    if (!sink) return change
    const since = Math.floor(this.now() / 1000)
    const moved6 = this.apply6(hosts, since)
    const next = new Map<string, Map<string, Route>>()
    for (const h of hosts) {
      if (h.name === this.selfName) continue
      const old = this.current.get(h.name)
      const mine = new Map<string, Route>()
      let changed = false
      for (const [net, subnet] of hostSubnets(h)) {
        const o = old?.get(net)
        if (o !== undefined && o.nextHop === h.address && formatPrefix(o.prefix) === formatPrefix(subnet)) {
          mine.set(net, o) // unchanged: the same Route, not announced again
          continue
        }
        if (o !== undefined && formatPrefix(o.prefix) !== formatPrefix(subnet)) sink.withdraw(o.prefix, 'static', h.name)
        changed = true
        const r = staticRoute(h, since, subnet)
        mine.set(net, r)
        sink.add(r)
      }
      for (const [net, o] of old ?? []) {
        if (mine.has(net)) continue
        sink.withdraw(o.prefix, 'static', h.name)
        changed = true
      }
      next.set(h.name, mine)
      if (old === undefined) change.added.push(h.name)
      else if (changed) change.moved.push(h.name)
    }
    for (const [name, old] of this.current) {
      if (next.has(name)) continue
      for (const r of old.values()) sink.withdraw(r.prefix, 'static', name)
      change.removed.push(name)
    }
    this.current = next
    // a host whose IPv4 routes stayed but whose IPv6 route changed moved too
    for (const name of moved6) if (!change.added.includes(name) && !change.moved.includes(name) && next.has(name)) change.moved.push(name)
    return change
  }

  /** The IPv6 routes (sink6 given): returns the hosts whose IPv6 route was added, changed or removed. */
  private apply6(hosts: readonly HostEntry[], since: number): string[] {
    const sink6 = this.sink6
    if (!sink6) return []
    const changed: string[] = []
    const next = new Map<string, RibRoute6>()
    for (const h of hosts) {
      if (h.name === this.selfName) continue
      const want = staticRoute6(h, this.iface, since)
      const old = this.current6.get(h.name)
      if (want === undefined) continue
      if (old !== undefined && old.nextHop === want.nextHop && formatPrefix6(old.prefix) === formatPrefix6(want.prefix)) {
        next.set(h.name, old) // unchanged: the same route, its age goes on
        continue
      }
      if (old !== undefined && formatPrefix6(old.prefix) !== formatPrefix6(want.prefix)) sink6.withdraw(old.prefix, 'static', h.name)
      sink6.add(want)
      next.set(h.name, want)
      changed.push(h.name)
    }
    for (const [name, old] of this.current6) {
      if (next.has(name)) continue
      sink6.withdraw(old.prefix, 'static', name)
      changed.push(name)
    }
    this.current6 = next
    return changed
  }

  peers(): PeerStatus[] {
    return [...this.current.entries()].map(([name, routes]) => {
      const r = routes.get('')!
      const r6 = this.current6.get(name)
      const n = routes.size + (r6 ? 1 : 0)
      return {
        peer: r.peer,
        address: formatAddress(r.nextHop),
        state: 'configured',
        since: Math.min(...[...routes.values()].map((x) => x.since ?? 0)) * 1000,
        received: n,
        accepted: n,
        ...(r6 ? { details: { address6: r6.nextHop } } : {}),
      }
    })
  }
}

export const createSource: CreateSource = (ctx) => new StaticSource(ctx.config.hosts, ctx.self.name, Date.now, ctx.self.interface)
