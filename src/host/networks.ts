/**
 * Fabric networks on the Docker side: each [network.NAME] becomes a Docker
 * bridge network of the same name on every host, through the Engine API.
 *
 * Shape of the Docker network (why: a container attached to two networks must
 * reach the other hosts' containers of *both*, and Docker gives a container a
 * default route through one network only):
 *   IPAM Subnet   the network's whole pool (10.245.0.0/16), so every container
 *                 has an on-link route to the whole network, whatever its
 *                 default route is; it sends from its address in that network
 *   IPAM IPRange  this host's subnet (10.245.3.0/24): Docker hands out only
 *                 these addresses here
 *   Gateway       the first address of this host's subnet (10.245.3.1)
 *   AuxiliaryAddresses  the network and broadcast addresses of this host's
 *                 subnet (10.245.3.0, 10.245.3.255), reserved: inside the
 *                 pool they are ordinary addresses, and Docker would hand out
 *                 10.245.3.0 to the first container (measured with dockerd
 *                 20.10); so containers get .2 up to .254, as on docker0
 *   bridge        proxy ARP on (net.ipv4.conf.BRIDGE.proxy_arp = 1): the host
 *                 answers ARP for the other hosts' addresses of the pool, which
 *                 it routes to them (fabric's routes, more specific than the
 *                 bridge's connected /16)
 *   masquerade    off (com.docker.network.bridge.enable_ip_masquerade=false):
 *                 no NAT between fabric networks or hosts; fabric's own
 *                 FABRIC-POSTROUTING masquerades to the outside, as for docker0
 *   MTU           the underlay's (1500), not an overlay's 1450
 *   labels        io.fabric.managed=true, io.fabric.network=NAME
 *
 * fabric never deletes a Docker network without both labels, and deletes its
 * own only when no container is attached (fabric leave reports the others).
 */
import { writeFileSync } from 'node:fs'
import type { NetworkConfig } from '../config/networks.js'
import { type Prefix, firstHost, formatAddress, formatPrefix, maskOf } from '../net/ipv4.js'
import { DockerApiError, MANAGED_LABEL, type NetworkInfo, dockerApi, inspectNetwork, networkBridge, versionAtLeast } from './docker.js'

export const NETWORK_LABEL = 'io.fabric.network'
/** The MTU of fabric's Docker networks: the underlay's, no encapsulation. */
export const DEFAULT_NETWORK_MTU = 1500

/** One fabric network as this host's Docker needs it. */
export interface DockerNetworkWant {
  name: string
  pool: Prefix
  /** this host's subnet of the network */
  subnet: Prefix
  bridge?: string
  mtu: number
}

/** The Docker networks this host wants: every [network.NAME] this host has a subnet of. */
export function wantedNetworks(networks: Pick<NetworkConfig, 'name' | 'pool' | 'bridge'>[], localSubnets: Record<string, Prefix>, mtu = DEFAULT_NETWORK_MTU): DockerNetworkWant[] {
  const out: DockerNetworkWant[] = []
  for (const n of networks) {
    const subnet = localSubnets[n.name]
    if (subnet === undefined) continue
    out.push({ name: n.name, pool: n.pool, subnet, mtu, ...(n.bridge !== undefined ? { bridge: n.bridge } : {}) })
  }
  return out
}

/** The gateway of this host's part of a network (the bridge's address, with the pool's length). */
export function gatewayOf(want: Pick<DockerNetworkWant, 'subnet'>): string {
  return formatAddress(firstHost(want.subnet))
}

/**
 * The IPAM auxiliary addresses of a fabric network: this host's subnet's
 * network and broadcast addresses, which Docker must not give to a container.
 * None when the subnet is the whole pool (Docker keeps the pool's own out).
 */
export function reservedAddresses(want: Pick<DockerNetworkWant, 'pool' | 'subnet'>): Record<string, string> {
  if (want.subnet.len <= want.pool.len || want.subnet.len >= 31) return {}
  const broadcast = (want.subnet.addr | ~maskOf(want.subnet.len)) >>> 0
  return { 'fabric-subnet-network': formatAddress(want.subnet.addr), 'fabric-subnet-broadcast': formatAddress(broadcast) }
}

/** The body of POST /networks/create for a fabric network. */
export function dockerNetworkBody(want: DockerNetworkWant, dockerVersion: string | undefined): Record<string, unknown> {
  const options: Record<string, string> = {
    'com.docker.network.bridge.enable_ip_masquerade': 'false',
    'com.docker.network.driver.mtu': String(want.mtu),
  }
  if (want.bridge !== undefined) options['com.docker.network.bridge.name'] = want.bridge
  // Docker >= 28.0 drops packets routed straight to container addresses unless the gateway mode says otherwise
  if (versionAtLeast(dockerVersion, 28, 0)) options['com.docker.network.bridge.gateway_mode_ipv4'] = 'nat-unprotected'
  return {
    Name: want.name,
    Driver: 'bridge',
    CheckDuplicate: true,
    IPAM: { Driver: 'default', Config: [{ Subnet: formatPrefix(want.pool), IPRange: formatPrefix(want.subnet), Gateway: gatewayOf(want), ...aux(want) }] },
    Options: options,
    Labels: { [MANAGED_LABEL]: 'true', [NETWORK_LABEL]: want.name },
  }
}

function aux(want: Pick<DockerNetworkWant, 'pool' | 'subnet'>): { AuxiliaryAddresses?: Record<string, string> } {
  const r = reservedAddresses(want)
  return Object.keys(r).length > 0 ? { AuxiliaryAddresses: r } : {}
}

function sameAddresses(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
  const ka = Object.keys(a ?? {})
  return ka.length === Object.keys(b).length && ka.every((k) => a?.[k] === b[k])
}

/** Is this Docker network one fabric created for a fabric network (both labels)? */
export function isFabricNetwork(net: NetworkInfo): boolean {
  return net.Labels?.[MANAGED_LABEL] === 'true' && typeof net.Labels?.[NETWORK_LABEL] === 'string'
}

/** What keeps an existing fabric-labelled network from serving `want`; empty when it fits. */
export function networkProblems(net: NetworkInfo, want: DockerNetworkWant): string[] {
  const problems: string[] = []
  const cfg = net.IPAM?.Config ?? []
  const c = cfg.find((x) => x.Subnet === formatPrefix(want.pool))
  if (c === undefined || cfg.length !== 1) problems.push(`subnet ${cfg.map((x) => x.Subnet).join(', ') || 'none'} (fabric needs ${formatPrefix(want.pool)})`)
  else {
    const range = c.IPRange
    if (range !== formatPrefix(want.subnet)) problems.push(`ip-range ${range ?? 'none'} (this host's subnet is ${formatPrefix(want.subnet)})`)
    if (c.Gateway !== gatewayOf(want)) problems.push(`gateway ${c.Gateway ?? 'none'} (fabric needs ${gatewayOf(want)})`)
    const reserved = reservedAddresses(want)
    if (!sameAddresses(c.AuxiliaryAddresses, reserved)) {
      const have = Object.values(c.AuxiliaryAddresses ?? {})
      problems.push(`auxiliary addresses ${have.join(', ') || 'none'} (fabric reserves ${Object.values(reserved).join(' and ') || 'none'}${Object.keys(reserved).length ? ", this host's subnet's network and broadcast addresses" : ''})`)
    }
  }
  if (net.Driver !== 'bridge') problems.push(`driver ${net.Driver} (fabric needs bridge)`)
  if (net.Labels?.[NETWORK_LABEL] !== want.name) problems.push(`label ${NETWORK_LABEL}=${net.Labels?.[NETWORK_LABEL] ?? '(none)'} (fabric needs ${want.name})`)
  if (net.Options?.['com.docker.network.bridge.enable_ip_masquerade'] !== 'false') problems.push('masquerade on (fabric needs com.docker.network.bridge.enable_ip_masquerade=false)')
  const mtu = net.Options?.['com.docker.network.driver.mtu']
  if (mtu !== String(want.mtu)) problems.push(`mtu ${mtu ?? "Docker's default"} (fabric needs ${want.mtu})`)
  if (want.bridge !== undefined && net.Options?.['com.docker.network.bridge.name'] !== want.bridge) problems.push(`bridge ${networkBridge(net)} (fabric.ini says ${want.bridge})`)
  return problems
}

export type NetworkStep =
  /** absent: create it */
  | { kind: 'create'; name: string; body: Record<string, unknown> }
  /** fabric's, fits: use it as it is */
  | { kind: 'adopt'; name: string; id: string; bridge: string }
  /** fabric's, but not as this config wants it: reported, not touched */
  | { kind: 'mismatch'; name: string; id: string; problems: string[]; containers: number; message: string }
  /** a network of the same name that fabric did not create: refused, not touched */
  | { kind: 'foreign'; name: string; id: string; message: string }

export interface NetworkPlan {
  steps: NetworkStep[]
  /** one line per mismatch/foreign network; non-empty: refuse to start (exit 2), nothing changed */
  errors: string[]
}

/**
 * Pure reconcile plan: for each wanted network, what Docker has under its
 * name (undefined: nothing).
 */
export function planNetworks(wants: DockerNetworkWant[], existing: Map<string, NetworkInfo | undefined>, dockerVersion: string | undefined): NetworkPlan {
  const steps: NetworkStep[] = []
  const errors: string[] = []
  for (const want of wants) {
    const net = existing.get(want.name)
    if (net === undefined) {
      steps.push({ kind: 'create', name: want.name, body: dockerNetworkBody(want, dockerVersion) })
      continue
    }
    if (net.Labels?.[MANAGED_LABEL] !== 'true') {
      const message = `Docker network ${want.name} exists and was not created by fabric (no label ${MANAGED_LABEL}=true); fabric does not take over or delete it. Rename the fabric network ([network.${want.name}]) or remove the Docker network (docker network rm ${want.name}, after disconnecting its containers)`
      steps.push({ kind: 'foreign', name: want.name, id: net.Id, message })
      errors.push(message)
      continue
    }
    const problems = networkProblems(net, want)
    if (problems.length === 0) {
      steps.push({ kind: 'adopt', name: want.name, id: net.Id, bridge: networkBridge(net) })
      continue
    }
    const containers = Object.keys(net.Containers ?? {}).length
    const message = `Docker network ${want.name} (fabric's) does not fit fabric.ini: ${problems.join('; ')}. ` +
      (containers > 0 ? `It has ${containers} container(s): disconnect them, then docker network rm ${want.name} and start fabric again` : `Remove it (docker network rm ${want.name}) and start fabric again; fabric creates it anew`)
    steps.push({ kind: 'mismatch', name: want.name, id: net.Id, problems, containers, message })
    errors.push(message)
  }
  return { steps, errors }
}

/** What `fabric leave` does with fabric's Docker networks: remove the unused ones, keep (and report) the others. */
export interface LeavePlan {
  remove: { name: string; id: string }[]
  kept: { name: string; id: string; containers: string[] }[]
}

/** Pure: from the inspected networks (any), the ones fabric removes and the ones it keeps because containers use them. */
export function planLeave(networks: NetworkInfo[]): LeavePlan {
  const out: LeavePlan = { remove: [], kept: [] }
  for (const net of networks) {
    if (!isFabricNetwork(net)) continue
    const containers = Object.values(net.Containers ?? {}).map((c, i) => (c as { Name?: string })?.Name ?? Object.keys(net.Containers ?? {})[i]!)
    if (containers.length === 0) out.remove.push({ name: net.Name, id: net.Id })
    else out.kept.push({ name: net.Name, id: net.Id, containers })
  }
  // Docker lists networks in no fixed order; the plan (and so `fabric leave`'s report) goes by name, the same every time
  out.remove.sort((a, b) => byName(a.name, b.name))
  out.kept.sort((a, b) => byName(a.name, b.name))
  return out
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** The per-bridge sysctls a fabric network's bridge needs (see the header: proxy ARP for the other hosts' addresses, answered at once). */
export function bridgeSysctls(bridge: string): { path: string; key: string; value: string }[] {
  return [
    { path: `/proc/sys/net/ipv4/conf/${bridge}/proxy_arp`, key: `net.ipv4.conf.${bridge}.proxy_arp`, value: '1' },
    // proxied ARP replies are otherwise delayed by up to 0.8 s (proxy_delay 80), the first packet to a new neighbour with them
    { path: `/proc/sys/net/ipv4/neigh/${bridge}/proxy_delay`, key: `net.ipv4.neigh.${bridge}.proxy_delay`, value: '0' },
  ]
}

export function applyBridgeSysctls(bridge: string, write: (path: string, value: string) => void = (p, v) => writeFileSync(p, v)): void {
  for (const s of bridgeSysctls(bridge)) write(s.path, s.value)
}

/** Inspects, by name, each wanted network (undefined when Docker has none of that name). */
export async function inspectWanted(socket: string, wants: DockerNetworkWant[]): Promise<Map<string, NetworkInfo | undefined>> {
  const out = new Map<string, NetworkInfo | undefined>()
  for (const w of wants) {
    const net = await inspectNetwork(socket, w.name)
    // GET /networks/NAME also matches an id prefix; only an exact name counts
    out.set(w.name, net && net.Name === w.name ? net : undefined)
  }
  return out
}

export interface AppliedNetwork {
  name: string
  id: string
  bridge: string
  created: boolean
}

/**
 * Carries out a plan without errors: creates the missing networks, adopts the
 * rest, sets each bridge's sysctls. Throws on a plan with errors (nothing done).
 */
export async function applyNetworks(socket: string, plan: NetworkPlan, opts: { sysctl?: (bridge: string) => void } = {}): Promise<AppliedNetwork[]> {
  if (plan.errors.length > 0) throw new Error(plan.errors.join('\n'))
  const setSysctls = opts.sysctl ?? ((b: string) => applyBridgeSysctls(b))
  const out: AppliedNetwork[] = []
  for (const step of plan.steps) {
    if (step.kind === 'adopt') {
      setSysctls(step.bridge)
      out.push({ name: step.name, id: step.id, bridge: step.bridge, created: false })
    } else if (step.kind === 'create') {
      const res = await dockerApi<{ Id: string }>(socket, 'POST', '/networks/create', step.body)
      const net = await inspectNetwork(socket, res.Id)
      const bridge = net ? networkBridge(net) : `br-${res.Id.slice(0, 12)}`
      setSysctls(bridge)
      out.push({ name: step.name, id: res.Id, bridge, created: true })
    }
  }
  return out
}

/** Every network Docker has with fabric's labels, inspected (the list endpoint does not carry the containers). */
export async function listFabricNetworks(socket: string): Promise<NetworkInfo[]> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`${MANAGED_LABEL}=true`, NETWORK_LABEL] }))
  const list = await dockerApi<NetworkInfo[]>(socket, 'GET', `/networks?filters=${filters}`)
  const out: NetworkInfo[] = []
  for (const n of list ?? []) {
    const full = await inspectNetwork(socket, n.Id)
    if (full && isFabricNetwork(full)) out.push(full)
  }
  return out
}

/**
 * `fabric leave` for the fabric networks: removes fabric's unused Docker
 * networks, keeps those with containers. A network that gained a container
 * between the look and the removal (Docker answers 403/409) is kept too.
 */
export async function leaveNetworks(socket: string): Promise<{ removed: string[]; kept: { name: string; containers: string[] }[] }> {
  const plan = planLeave(await listFabricNetworks(socket))
  const removed: string[] = []
  const kept = plan.kept.map((k) => ({ name: k.name, containers: k.containers }))
  for (const r of plan.remove) {
    try {
      await dockerApi(socket, 'DELETE', `/networks/${encodeURIComponent(r.id)}`)
      removed.push(r.name)
    } catch (e) {
      if (e instanceof DockerApiError && (e.status === 403 || e.status === 409)) kept.push({ name: r.name, containers: [] })
      else if (!(e instanceof DockerApiError && e.status === 404)) throw e
    }
  }
  kept.sort((a, b) => byName(a.name, b.name))
  return { removed, kept }
}
