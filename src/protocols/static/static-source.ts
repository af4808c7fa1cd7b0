/**
 * Static mode: every [host.*] of fabric.ini other than this host becomes the
 * route `SUBNET via ADDRESS`. A reload diffs the old and new host lists, so a
 * host added, removed or moved changes only its own route.
 */
import type { HostEntry } from '../../config/fabric-config.js'
import { formatAddress, formatPrefix } from '../../net/ipv4.js'
import type { Route } from '../../rib/route.js'
import type { PeerStatus, RouteSink, RouteSource } from '../../rib/source.js'

export function staticRoutes(hosts: readonly HostEntry[], selfName: string): Route[] {
  const since = Math.floor(Date.now() / 1000)
  return hosts
    .filter((h) => h.name !== selfName)
    .map((h) => ({ prefix: h.subnet, nextHop: h.address, source: 'static' as const, peer: h.name, metric: 0, attrs: { hostName: h.name }, since }))
}

export interface StaticChange {
  added: string[]
  removed: string[]
  moved: string[]
}

export class StaticSource implements RouteSource {
  readonly kind = 'static' as const
  private sink: RouteSink | undefined
  private current = new Map<string, Route>()
  private since = Date.now()

  constructor(private hosts: readonly HostEntry[], private readonly selfName: string) {}

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

  private apply(hosts: readonly HostEntry[]): StaticChange {
    const sink = this.sink
    const change: StaticChange = { added: [], removed: [], moved: [] }
    if (!sink) return change
    const next = new Map(staticRoutes(hosts, this.selfName).map((r) => [r.peer, r]))
    for (const [name, old] of this.current) {
      const now = next.get(name)
      if (now === undefined) {
        sink.withdraw(old.prefix, 'static', name)
        change.removed.push(name)
      } else if (formatPrefix(now.prefix) !== formatPrefix(old.prefix)) {
        sink.withdraw(old.prefix, 'static', name)
        change.moved.push(name)
      } else if (now.nextHop !== old.nextHop) {
        change.moved.push(name)
      }
    }
    for (const [name, r] of next) {
      if (!this.current.has(name)) change.added.push(name)
      sink.add(r)
    }
    this.current = next
    this.since = Date.now()
    return change
  }

  peers(): PeerStatus[] {
    return [...this.current.values()].map((r) => ({
      peer: r.peer,
      address: formatAddress(r.nextHop),
      state: 'configured',
      since: this.since,
      received: 1,
      accepted: 1,
    }))
  }
}
