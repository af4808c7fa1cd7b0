/**
 * Static mode: every [host.*] of fabric.ini other than this host becomes the
 * route `SUBNET via ADDRESS`. A reload diffs the old and new host lists, so a
 * host added, removed or moved changes only its own route; the Route of a
 * host that did not change is kept as it is (its AGE goes on).
 */
import type { FabricConfig, HostEntry } from '../../config/fabric-config.js'
import { formatAddress, formatPrefix } from '../../net/ipv4.js'
import type { Route } from '../../rib/route.js'
import type { CreateSource, PeerStatus, RouteSink, RouteSource } from '../../rib/source.js'

export function staticRoute(h: HostEntry, since: number): Route {
  return { prefix: h.subnet, nextHop: h.address, source: 'static', peer: h.name, metric: 0, attrs: { hostName: h.name }, since }
}

export interface StaticChange {
  added: string[]
  removed: string[]
  moved: string[]
}

export class StaticSource implements RouteSource {
  readonly kind = 'static' as const
  private sink: RouteSink | undefined
  /** by host name: the route emitted for it */
  private current = new Map<string, Route>()

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
    const next = new Map<string, Route>()
    for (const h of hosts) {
      if (h.name === this.selfName) continue
      const old = this.current.get(h.name)
      if (old === undefined) {
        change.added.push(h.name)
      } else if (old.nextHop === h.address && formatPrefix(old.prefix) === formatPrefix(h.subnet)) {
        next.set(h.name, old) // unchanged: the same Route, not announced again
        continue
      } else {
        if (formatPrefix(old.prefix) !== formatPrefix(h.subnet)) sink.withdraw(old.prefix, 'static', h.name)
        change.moved.push(h.name)
      }
      const r = staticRoute(h, since)
      next.set(h.name, r)
      sink.add(r)
    }
    for (const [name, old] of this.current) {
      if (next.has(name)) continue
      sink.withdraw(old.prefix, 'static', name)
      change.removed.push(name)
    }
    this.current = next
    return change
  }

  peers(): PeerStatus[] {
    return [...this.current.values()].map((r) => ({
      peer: r.peer,
      address: formatAddress(r.nextHop),
      state: 'configured',
      since: (r.since ?? 0) * 1000,
      received: 1,
      accepted: 1,
    }))
  }
}

export const createSource: CreateSource = (ctx) => new StaticSource(ctx.config.hosts, ctx.self.name)
