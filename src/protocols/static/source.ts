/**
 * Static mode: every [host.*] of fabric.ini other than this host becomes the
 * route `SUBNET via ADDRESS`, and one route per fabric network it has a
 * subnet of (`subnet.NETWORK`, or derived: HostEntry.networks). A reload diffs the old and new host lists, so a
 * host added, removed or moved changes only its own route; the Route of a
 * host that did not change is kept as it is (its AGE goes on).
 */
import type { FabricConfig, HostEntry } from '../../config/fabric-config.js'
import { type Prefix, formatAddress, formatPrefix } from '../../net/ipv4.js'
import type { Route } from '../../rib/route.js'
import type { CreateSource, PeerStatus, RouteSink, RouteSource } from '../../rib/source.js'

export function staticRoute(h: HostEntry, since: number, subnet = h.subnet): Route {
  return { prefix: subnet, nextHop: h.address, source: 'static', peer: h.name, metric: 0, attrs: { hostName: h.name }, since }
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

  constructor(private hosts: readonly HostEntry[], private readonly selfName: string, private readonly now: () => number = Date.now) {}

  async start(sink: RouteSink): Promise<void> {
    this.sink = sink
    this.apply(this.hosts)
  }

  async stop(): Promise<void> {
    this.sink = undefined
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
    return change
  }

  peers(): PeerStatus[] {
    return [...this.current.values()].map((routes) => {
      const r = routes.get('')!
      return {
        peer: r.peer,
        address: formatAddress(r.nextHop),
        state: 'configured',
        since: Math.min(...[...routes.values()].map((x) => x.since ?? 0)) * 1000,
        received: routes.size,
        accepted: routes.size,
      }
    })
  }
}

export const createSource: CreateSource = (ctx) => new StaticSource(ctx.config.hosts, ctx.self.name)
