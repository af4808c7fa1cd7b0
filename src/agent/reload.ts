/**
 * SIGHUP: which changes of fabric.ini a running agent can apply. The pool,
 * the route protocol, the mode and [bgp] install-routes need a restart; in static mode this host's
 * own entry must stay as it is. Everything else goes to the sources.
 */
import { type FabricConfig, installsRoutes } from '../config/fabric-config.js'
import type { SelfInfo } from '../core/self.js'
import { formatPrefix } from '../net/ipv4.js'
import { formatPrefix6 } from '../net/ipv6.js'

/** Why `next` cannot replace `current` without a restart, or undefined when it can. */
export function reloadRefusal(current: FabricConfig, next: FabricConfig, self: SelfInfo): string | undefined {
  const fixed: [string, unknown, unknown][] = [
    ['pool', formatPrefix(next.pool), formatPrefix(current.pool)],
    ['route-protocol', next.routeProtocol, current.routeProtocol],
    ['mode', next.mode, current.mode],
    // the Docker networks, firewall rules and announced subnets follow the [network.NAME] sections
    ['[network.*]', networksKey(next), networksKey(current)],
    // IPv6 on or off, the pool6 and its cut: the Rib6/FibSync6, forwarding, Docker's fixed-cidr-v6 and the firewall follow them
    ['pool6', next.pool6 ? formatPrefix6(next.pool6) : 'none', current.pool6 ? formatPrefix6(current.pool6) : 'none'],
    ['host-prefix6', next.pool6 ? next.hostPrefix6 : 'none', current.pool6 ? current.hostPrefix6 : 'none'],
    // whether FIB sync wants the RIB's routes at all is fixed when it is made
    ['[bgp] install-routes', installsRoutes(next) ? 'yes' : 'no', installsRoutes(current) ? 'yes' : 'no'],
  ]
  for (const [key, now, was] of fixed) {
    if (now !== was) return `${key} changed from ${String(was)} to ${String(now)}; restart the agent to change it`
  }
  if (next.mode === 'static') {
    const me = next.hosts.find((h) => h.name === self.name)
    const mine = (self.networks ?? []).filter((n) => n.name !== 'default').map((n) => `${n.name}=${formatPrefix(n.subnet)}`).sort().join(' ')
    const theirs = Object.entries(me?.networks ?? {}).map(([n, p]) => `${n}=${formatPrefix(p)}`).sort().join(' ')
    if (!me || me.address !== self.address || formatPrefix(me.subnet) !== formatPrefix(self.subnet) || (self.networks !== undefined && mine !== theirs)) {
      return `this host (${self.name}) was removed or changed in ${next.file ?? '(flags)'}; restart the agent to apply`
    }
  }
  // this host's own IPv6 subnet and address, when fabric.ini gives them (any mode)
  const me = next.hosts.find((h) => h.name === self.name && h.address === self.address)
  if (me?.subnet6 !== undefined && self.subnet6 !== undefined && formatPrefix6(me.subnet6) !== formatPrefix6(self.subnet6)) {
    return `subnet6 of this host (${self.name}) changed from ${formatPrefix6(self.subnet6)} to ${formatPrefix6(me.subnet6)}; restart the agent to change it`
  }
  if (me?.address6 !== undefined && self.address6 !== undefined && me.address6 !== self.address6) {
    return `address6 of this host (${self.name}) changed from ${self.address6} to ${me.address6}; restart the agent to change it`
  }
  return undefined
}

/** The [network.NAME] sections as one comparable string. */
function networksKey(c: FabricConfig): string {
  return (c.networks ?? []).map((n) => `${n.name} ${formatPrefix(n.pool)}/${n.hostPrefix} allow=${[...n.allow].sort().join(',')} bridge=${n.bridge ?? ''}`).sort().join('; ') || 'none'
}
