/**
 * The fabric networks' part of the host hooks (hooks.ts calls these at its
 * fixed points; the Docker side itself is networks.ts):
 *
 *   preflight  Docker used (its socket answers): inspect the wanted networks,
 *              refuse (exit 2, nothing changed) when the plan has errors (a
 *              foreign network of that name, fabric's own not as fabric.ini
 *              wants it). Docker not installed (no socket): the networks are
 *              routed and isolated all the same, no Docker network is made.
 *              A socket that does not answer: refused (exit 1), as
 *              --docker-network does.
 *   start      create/adopt the Docker networks, proxy ARP on their bridges
 *   leave      remove fabric's unused Docker networks, report those in use
 *   status     per network: the Docker network (present, fits), its bridge
 *              (up), the isolation rules (the firewall in sync); read in the
 *              background, status() never waits
 *
 * The firewall spec with every network (firewallSpec) is built here too, so
 * hooks.ts keeps one line for it.
 */
import { existsSync, readFileSync } from 'node:fs'
import type { FabricConfig } from '../config/fabric-config.js'
import { AgentStartError, EXIT } from '../core/errors.js'
import type { Logger } from '../core/log.js'
import type { NetworkHostStatus } from '../core/host-status.js'
import type { SelfInfo } from '../core/self.js'
import { type Prefix, formatPrefix } from '../net/ipv4.js'
import { type NetworkInfo, engineVersion, networkBridge } from './docker.js'
import { type FirewallSpec, firewallSpec } from './firewall.js'
import {
  type AppliedNetwork, type DockerNetworkWant, type NetworkPlan, applyNetworks, inspectWanted, leaveNetworks, networkProblems, planNetworks, wantedNetworks,
} from './networks.js'
export type { NetworkHostStatus }

export interface NetworkHooks {
  readonly wants: DockerNetworkWant[]
  preflight(): Promise<void>
  start(): Promise<void>
  leave(): Promise<{ removed: string[]; kept: { name: string; containers: string[] }[] } | undefined>
  status(firewall: { enabled: boolean; inSync: boolean }): NetworkHostStatus[]
}

/** This host's subnet per [network.NAME] (SelfInfo.networks, the default left out). */
export function localNetworkSubnets(self: Pick<SelfInfo, 'networks'>): Record<string, Prefix> {
  const out: Record<string, Prefix> = {}
  for (const n of self.networks ?? []) if (n.name !== 'default') out[n.name] = n.subnet
  return out
}

/** The firewall spec of this host: the default network plus every [network.NAME] with this host's subnets. */
export function hostFirewallSpec(config: Pick<FabricConfig, 'pool' | 'networks'>, self: Pick<SelfInfo, 'subnet' | 'networks'>, masquerade: boolean): FirewallSpec {
  return firewallSpec({ pool: config.pool, local: self.subnet, masquerade, networks: config.networks, localSubnets: localNetworkSubnets(self) })
}

/** Administratively up (IFF_UP in /sys/class/net/NAME/flags); undefined when there is no such interface. */
export function interfaceUp(name: string, read: (p: string) => string = (p) => readFileSync(p, 'utf8')): boolean | undefined {
  try {
    return (Number.parseInt(read(`/sys/class/net/${name}/flags`).trim(), 16) & 0x1) === 1
  } catch {
    return undefined
  }
}

export function createNetworkHooks(ctx: { config: FabricConfig; self: SelfInfo; log: Logger; socket: string }): NetworkHooks {
  const { config, log, socket } = ctx
  const wants = wantedNetworks(config.networks, localNetworkSubnets(ctx.self))
  let used = false
  let plan: NetworkPlan = { steps: [], errors: [] }
  let applied: AppliedNetwork[] = []
  /** the last background reading per network: the Docker network as inspected */
  const seen = new Map<string, NetworkInfo | undefined>()
  let reading: Promise<void> | undefined

  function refresh(): void {
    if (!used || reading) return
    reading = inspectWanted(socket, wants)
      .then((m) => {
        for (const [k, v] of m) seen.set(k, v)
      })
      .catch((e: unknown) => log.debug('docker-networks-read-failed', { error: (e as Error).message }))
      .finally(() => (reading = undefined))
  }

  return {
    wants,
    async preflight() {
      if (wants.length === 0) return
      if (!existsSync(socket)) {
        log.info('docker-networks-skipped', { networks: wants.map((w) => w.name), note: `no ${socket}: the networks are routed and isolated; no Docker network is created on this host` })
        return
      }
      const version = await engineVersion(socket)
      if (!version) throw new AgentStartError(`fabric networks (${wants.map((w) => w.name).join(', ')}): Docker does not answer on ${socket} (start Docker, or pass --docker-socket)`, EXIT.RUNTIME)
      used = true
      const existing = await inspectWanted(socket, wants)
      plan = planNetworks(wants, existing, version)
      if (plan.errors.length > 0) throw new AgentStartError(plan.errors.join('\n'), EXIT.USAGE)
      for (const [k, v] of existing) seen.set(k, v)
    },
    async start() {
      if (!used) return
      applied = await applyNetworks(socket, plan)
      for (const a of applied) {
        const w = wants.find((x) => x.name === a.name)!
        log.info(a.created ? 'docker-network-created' : 'docker-network-adopted', { name: a.name, id: a.id.slice(0, 12), pool: formatPrefix(w.pool), subnet: formatPrefix(w.subnet), bridge: a.bridge, mtu: w.mtu })
      }
      refresh()
    },
    async leave() {
      if (!used) return undefined
      const r = await leaveNetworks(socket)
      if (r.removed.length > 0) log.info('docker-networks-removed', { networks: r.removed })
      for (const k of r.kept) log.warn('docker-network-kept', { name: k.name, containers: k.containers, note: `in use; remove it with docker network rm ${k.name} once its containers are gone` })
      return r
    },
    status(firewall) {
      refresh()
      return wants.map((w) => {
        const a = applied.find((x) => x.name === w.name)
        const net = seen.get(w.name)
        const problems = used ? (net ? networkProblems(net, w) : ['absent']) : []
        const bridge = net ? networkBridge(net) : a?.bridge ?? w.bridge ?? null
        const up = bridge ? interfaceUp(bridge) : undefined
        return {
          name: w.name,
          pool: formatPrefix(w.pool),
          subnet: formatPrefix(w.subnet),
          docker: used ? { present: net !== undefined, id: net?.Id.slice(0, 12) ?? null, created: a?.created ?? false, fits: net !== undefined && problems.length === 0, problems } : null,
          bridge,
          bridgeUp: up ?? (bridge ? false : null),
          isolation: firewall.enabled ? firewall.inSync : null,
        }
      })
    },
  }
}
