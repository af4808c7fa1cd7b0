/**
 * SIGHUP: which changes of fabric.ini a running agent can apply. The pool,
 * the route protocol and the mode need a restart; in static mode this host's
 * own entry must stay as it is. Everything else goes to the sources.
 */
import type { FabricConfig } from '../config/fabric-config.js'
import type { SelfInfo } from '../core/self.js'
import { formatPrefix } from '../net/ipv4.js'

/** Why `next` cannot replace `current` without a restart, or undefined when it can. */
export function reloadRefusal(current: FabricConfig, next: FabricConfig, self: SelfInfo): string | undefined {
  const fixed: [string, unknown, unknown][] = [
    ['pool', formatPrefix(next.pool), formatPrefix(current.pool)],
    ['route-protocol', next.routeProtocol, current.routeProtocol],
    ['mode', next.mode, current.mode],
    // the Docker networks, firewall rules and announced subnets follow the [network.NAME] sections
    ['[network.*]', networksKey(next), networksKey(current)],
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
  return undefined
}

/** The [network.NAME] sections as one comparable string. */
function networksKey(c: FabricConfig): string {
  return (c.networks ?? []).map((n) => `${n.name} ${formatPrefix(n.pool)}/${n.hostPrefix} allow=${[...n.allow].sort().join(',')} bridge=${n.bridge ?? ''}`).sort().join('; ') || 'none'
}
