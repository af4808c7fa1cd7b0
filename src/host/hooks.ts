/**
 * Host integration: what makes this host forward routed container traffic,
 * kept apart from routing (DESIGN.md). The agent calls these hooks at fixed
 * points; everything that changes the host outside fabric's own routes
 * (sysctl, docker0/daemon.json, firewall chains) lives behind them.
 *
 *   resolveSubnet  during identification, when no subnet is given (ipam)
 *   preflight      after validation, before any change: refuse (exit 2/3) here
 *   start          change the host (after preflight passed)
 *   stop           agent stops: leave everything in place
 *   leave          `fabric leave`: undo what start did
 */
import { existsSync } from 'node:fs'
import { AgentStartError, EXIT } from '../core/errors.js'
import type { Logger } from '../core/log.js'
import type { SelfInfo } from '../core/self.js'
import type { FabricConfig } from '../config/fabric-config.js'
import { effectiveRpFilter, enableIpForwarding } from '../kernel/sysctl.js'
import { formatPrefix, overlaps, parsePrefix, type Prefix } from '../net/ipv4.js'
import { formatPrefix6 } from '../net/ipv6.js'
import {
  BACKUP_SUFFIX, type BridgeState, DaemonJsonError, type NetworkInfo, type Rendered, type RestartPlan, bip6Of, bipInDaemonJson, bipOf, bridgeState, bridgeState6,
  dockerApi, engineVersion, inspectNetwork, interfaceAddresses, interfaceAddresses6, MANAGED_LABEL, networkBridge, networkCreateBody, networkMismatch,
  probeInit, readDaemonTemplate, readIfExists, renderDaemonJson, restartPlan, restoreDaemonJson, runRestart, stringKey, versionAtLeast, writeDaemonJson,
} from './docker.js'
import { FORWARD_CHAIN, POSTROUTING_CHAIN, desiredChains, desiredChains6, directRoutingDrops, directRoutingDrops6, firewallSpec6, forwardParent, planApply, planRemove } from './firewall.js'
import { FirewallWatch } from './firewall-watch.js'
import { readHostOptions } from './flags.js'
import { type Iptables, detectIp6tables, detectIptables } from './iptables.js'
import { allocateSubnet, readIpamState } from './ipam.js'
import { waitFor } from '../util/process.js'
import { createNetworkHooks, hostFirewallSpec } from './networks-hooks.js'
import { isoTime } from '../util/time.js'

export interface HostHookContext {
  config: FabricConfig
  self: SelfInfo
  log: Logger
  stateDir: string
  /** host-integration flags of `fabric join` (see HOST_FLAGS) */
  options: Record<string, unknown>
  /** report a warning shown by `fabric status` */
  warn: (event: string, message: string) => void
}

export interface HostHooks {
  preflight(): Promise<void>
  start(): Promise<void>
  stop(): Promise<void>
  /** what was left in place is in the result (fabric networks' Docker networks in use) */
  leave(): Promise<undefined | { networks?: { removed: string[]; kept: { name: string; containers: string[] }[] } }>
  /** shown under `host` in /v1/status; `inSync: false` makes the agent unhealthy */
  status(): Record<string, unknown> & { inSync: boolean }
}

export interface SubnetRequest {
  config: FabricConfig
  address: number
  stateDir: string
  log: Logger
  options: Record<string, unknown>
  /** subnets other hosts announce (learned before choosing, see Agent.discoverTaken) */
  learned?: Prefix[]
}

/** The subnet chosen earlier and kept in the state dir, if any (no need to learn the fabric first). */
export function persistedSubnet(stateDir: string): Prefix | undefined {
  const s = readIpamState(stateDir)
  if (!s) return undefined
  const p = parsePrefix(s.subnet)
  return p.ok ? p.value : undefined
}

/**
 * A refusal that needs the operator to do something on the host (exit 3).
 * An AgentStartError so that `fabric join` prints it and exits with its code.
 */
export function manualStepError(message: string): AgentStartError {
  return new AgentStartError(message, EXIT.MANUAL)
}

/**
 * This host's subnet when neither --subnet nor a [host.*] entry gives it:
 * automatic allocation from the pool (see ipam.ts), persisted in the state dir.
 * Subnets known to be taken: every [host.*] of fabric.ini.
 */
export async function resolveSubnet(req: SubnetRequest): Promise<Prefix | undefined> {
  const { config } = req
  const taken = [...config.hosts.filter((h) => h.address !== req.address).map((h) => h.subnet), ...(req.learned ?? [])]
  const r = allocateSubnet({ pool: config.pool, hostPrefix: config.hostPrefix, taken, address: req.address, stateDir: req.stateDir })
  if (!r.ok) throw new AgentStartError(`automatic subnet allocation: ${r.error}; pass --subnet CIDR`, EXIT.USAGE)
  req.log.info('subnet-allocated', { subnet: formatPrefix(r.subnet), pool: formatPrefix(config.pool), hostPrefix: config.hostPrefix, how: r.reason, taken: taken.length, learned: req.learned?.length ?? 0 })
  return r.subnet
}

type DockerPlan =
  | { kind: 'none'; reason: string }
  | { kind: 'docker0-ok' }
  | { kind: 'docker0-configure'; daemonJson?: string; restart: RestartPlan; was: BridgeState }
  | { kind: 'network'; name: string; exists?: NetworkInfo; version?: string }

export async function createHostHooks(ctx: HostHookContext): Promise<HostHooks> {
  const { log, self, config } = ctx
  const { options: o, errors } = readHostOptions(ctx.options)
  const subnet = self.subnet
  /** dual-stack host: docker0 also needs subnet6 (`ipv6`, `fixed-cidr-v6` in daemon.json) */
  const subnet6 = self.pool6 !== undefined ? self.subnet6 : undefined
  let docker: DockerPlan = { kind: 'none', reason: 'not checked' }
  let dockerVersion: string | undefined
  let bridge = 'docker0'
  let ipt: Iptables | undefined
  let backendReason = ''
  let watch: FirewallWatch | undefined
  let checking = false
  const fw = { inSync: !o.firewall, parent: '', checks: 0, restored: 0, lastCheck: undefined as string | undefined, lastError: undefined as string | undefined, directRoutingWarned: false }
  // dual-stack host: the same chains in ip6tables (none on an IPv4-only host: no ip6tables call at all)
  const spec6 = o.firewall ? firewallSpec6(self, o.masquerade) : undefined
  let ipt6: Iptables | undefined
  let ip6Reason = ''
  /** why there are no IPv6 chains although pool6 is configured (ip6tables not installed) */
  let ip6Missing: string | undefined
  const fw6 = { parent: '' }
  let networkCreated = false
  /** docker0 against this host's subnet, as last read (status() reports it without waiting) */
  const bridge0 = { matches: false, reading: undefined as Promise<boolean> | undefined }

  /**
   * docker0 must own subnet6's gateway too: on a dual-stack Docker host (no
   * Docker socket and no daemon.json: docker0 is not Docker's, and fabric
   * only warns when it has no IPv6 address of subnet6)
   */
  let need6 = subnet6 !== undefined

  /** docker0 owns this host's subnet (and on a dual-stack Docker host subnet6's gateway too). */
  async function docker0Matches(): Promise<boolean> {
    if (bridgeState(await interfaceAddresses('docker0'), subnet).state !== 'match') return false
    return !need6 || subnet6 === undefined || bridgeState6(await interfaceAddresses6('docker0'), subnet6).state === 'match'
  }

  /** Reads docker0's addresses (one read at a time); false when it cannot be read. */
  function refreshBridge(): Promise<boolean> {
    bridge0.reading ??= docker0Matches()
      .then((m) => (bridge0.matches = m))
      .catch((e: unknown) => {
        log.debug('docker0-read-failed', { error: (e as Error).message })
        return (bridge0.matches = false)
      })
      .finally(() => (bridge0.reading = undefined))
    return bridge0.reading
  }

  // fabric networks ([network.NAME]): Docker networks, isolation rules (networks-hooks.ts)
  const nets = createNetworkHooks({ config, self, log, socket: o.dockerSocket })
  const spec = hostFirewallSpec(config, self, o.masquerade)

  async function checkFirewall(reason: 'start' | 'periodic'): Promise<void> {
    if (!ipt || checking) return
    checking = true
    try {
      const saved = await ipt.save(['filter', 'nat', 'raw'])
      const wanted = desiredChains(spec, saved)
      fw.parent = forwardParent(saved)
      const plan = planApply(wanted, saved)
      if (plan.script) await ipt.restore(plan.script)
      const changes = [...plan.changes]
      const drops = directRoutingDrops(saved, subnet)
      if (ipt6 && spec6) {
        const saved6 = await ipt6.save(['filter', 'nat', 'raw'])
        drops.push(...directRoutingDrops6(saved6, spec6.subnet6))
        fw6.parent = forwardParent(saved6)
        const plan6 = planApply(desiredChains6(spec6, saved6), saved6)
        if (plan6.script) await ipt6.restore(plan6.script)
        changes.push(...plan6.changes.map((c) => `ip6tables ${c}`))
      }
      if (changes.length > 0) {
        if (reason === 'periodic') {
          fw.restored++
          log.warn('firewall-restored', { changes, note: "fabric's chains were changed or removed (Docker restart or firewall reload); put back" })
        } else {
          log.info('firewall-applied', { backend: ipt.backend, changes })
        }
      }
      if (drops.length > 0 && !fw.directRoutingWarned) {
        fw.directRoutingWarned = true
        ctx.warn('docker-direct-routing-blocked', `Docker drops packets routed to containers ${drops.slice(0, 3).join(', ')}${drops.length > 3 ? ', ...' : ''} (raw PREROUTING, Docker >= 28): set "allow-direct-routing": true in daemon.json (Docker >= 28.2) and restart Docker`)
      }
      fw.inSync = true
      fw.lastError = undefined
    } catch (e) {
      fw.inSync = false
      fw.lastError = (e as Error).message.split('\n')[0]
      log.error('firewall-check-failed', { error: fw.lastError })
      if (reason === 'start') throw e
    } finally {
      fw.checks++
      fw.lastCheck = isoTime()
      checking = false
    }
  }

  async function planDocker(): Promise<DockerPlan> {
    const socketThere = existsSync(o.dockerSocket)
    dockerVersion = socketThere ? await engineVersion(o.dockerSocket) : undefined
    if (o.dockerNetwork) {
      if (!dockerVersion) throw new AgentStartError(`--docker-network ${o.dockerNetwork}: Docker does not answer on ${o.dockerSocket} (start Docker, or pass --docker-socket)`, EXIT.RUNTIME)
      const existing = await inspectNetwork(o.dockerSocket, o.dockerNetwork)
      if (existing) {
        const problems = networkMismatch(existing, subnet, subnet6)
        if (problems.length > 0) {
          throw new AgentStartError(`Docker network ${o.dockerNetwork} exists but does not fit fabric: ${problems.join('; ')}. Remove it (docker network rm ${o.dockerNetwork}, after disconnecting its containers) and start again; fabric creates it with subnet ${formatPrefix(subnet)}${subnet6 !== undefined ? ` and IPv6 subnet ${formatPrefix6(subnet6)}` : ''}`, EXIT.USAGE)
        }
        bridge = networkBridge(existing)
      }
      const d0 = ((await interfaceAddresses('docker0')) ?? []).map((a) => parsePrefix(a, false)).filter((p) => p.ok).map((p) => (p as { value: Prefix }).value)
      const clash = d0.find((p) => overlaps(p, config.pool))
      if (clash) ctx.warn('docker0-overlaps-pool', `docker0 (${formatPrefix(clash)}) overlaps the fabric pool ${formatPrefix(config.pool)}; give docker0 a "bip" outside the pool`)
      return { kind: 'network', name: o.dockerNetwork, exists: existing, version: dockerVersion }
    }
    const daemonJsonText = readIfExists(o.daemonJson)
    const state4 = bridgeState(await interfaceAddresses('docker0'), subnet)
    const state6 = subnet6 === undefined ? undefined : bridgeState6(await interfaceAddresses6('docker0'), subnet6)
    if (subnet6 !== undefined && !socketThere && daemonJsonText === undefined) {
      // not a Docker host: docker0 (if any) is the operator's bridge, fabric configures nothing on it
      need6 = false
      if (state4.state === 'match' && state6?.state !== 'match') {
        ctx.warn('docker0-no-ipv6', `docker0 has no ${bip6Of(subnet6)} (this host's subnet6 ${formatPrefix6(subnet6)}) and Docker is not installed here (no ${o.dockerSocket}, no ${o.daemonJson}): containers on docker0 get no fabric IPv6 address; add it (ip -6 addr add ${bip6Of(subnet6)} dev docker0) or run Docker with "ipv6": true and "fixed-cidr-v6": "${formatPrefix6(subnet6)}"`)
      }
    }
    // docker0 as a whole: both families must match on a dual-stack host
    const state: BridgeState = state4.state !== 'match' || !need6 || state6 === undefined || state6.state === 'match' ? state4
      : { state: 'mismatch', addresses: [] }
    if (state.state === 'match') {
      bridge0.matches = true
      const bip = bipInDaemonJson(daemonJsonText)
      if (bip !== undefined && bip !== bipOf(subnet)) ctx.warn('daemon-json-bip-differs', `docker0 has ${bipOf(subnet)} but ${o.daemonJson} says "bip": "${bip}"; the next Docker restart would move docker0 out of the fabric`)
      const cidr6 = stringKey(daemonJsonText, 'fixed-cidr-v6')
      if (subnet6 !== undefined && daemonJsonText !== undefined && cidr6 !== formatPrefix6(subnet6)) ctx.warn('daemon-json-fixed-cidr-v6-differs', `docker0 has ${bip6Of(subnet6)} but ${o.daemonJson} says ${cidr6 === undefined ? 'no "fixed-cidr-v6"' : `"fixed-cidr-v6": "${cidr6}"`}; the next Docker restart would take docker0 out of the IPv6 fabric`)
      return { kind: 'docker0-ok' }
    }
    if (state.state === 'absent' && !socketThere && daemonJsonText === undefined) {
      return { kind: 'none', reason: `no docker0, no ${o.dockerSocket}, no ${o.daemonJson}: Docker is not installed here` }
    }
    let rendered: Rendered
    try {
      // the user's own values: the backup when fabric wrote daemon.json before
      const original = subnet6 !== undefined ? readIfExists(o.daemonJson + BACKUP_SUFFIX) : undefined
      rendered = renderDaemonJson({ current: daemonJsonText, original, template: readDaemonTemplate(), subnet, subnet6, dockerVersion, file: o.daemonJson })
    } catch (e) {
      if (e instanceof DaemonJsonError) throw new AgentStartError(e.message, EXIT.USAGE)
      throw e
    }
    for (const w of rendered.warnings) ctx.warn('daemon-json', w)
    const restart = restartPlan(o.dockerRestartCommand, probeInit())
    const have = state4.state === 'absent' ? 'docker0 does not exist'
      : state4.state === 'mismatch' ? `docker0 has ${state4.addresses.join(', ') || 'no IPv4 address'}`
        : `docker0 has ${bipOf(subnet)} but not ${bip6Of(subnet6!)} (${state6?.state === 'mismatch' ? state6.addresses.join(', ') || 'no IPv6 address' : 'no IPv6'})`
    const needs = `docker0 needs "bip": "${bipOf(subnet)}"${subnet6 !== undefined ? `, "ipv6": true and "fixed-cidr-v6": "${formatPrefix6(subnet6)}"` : ''}`
    if (!o.configureDocker) {
      const cmds = [
        ...(rendered.changed ? [
          `cp -p ${o.daemonJson} ${o.daemonJson}.fabric-backup   # if it exists`,
          `cat > ${o.daemonJson} <<'EOF'`,
          rendered.text.trimEnd(),
          'EOF',
        ] : []),
        'error' in restart ? 'systemctl restart docker' : restart.display,
      ]
      throw manualStepError(`${have} but this host's fabric subnet is ${formatPrefix(subnet)}${subnet6 !== undefined ? ` and subnet6 ${formatPrefix6(subnet6)}` : ''} (${needs}).\n` +
        'Run fabric join again with --configure-docker to do this (daemon.json is backed up, Docker is restarted), or do it yourself:\n\n' +
        `${cmds.join('\n')}\n\n` +
        `then start fabric join again. (Or keep docker0 as it is and use --docker-network NAME.)`)
    }
    if ('error' in restart) throw new AgentStartError(`--configure-docker: ${restart.error}`, EXIT.USAGE)
    return { kind: 'docker0-configure', daemonJson: rendered.changed ? rendered.text : undefined, restart, was: state }
  }

  async function applyDocker(): Promise<void> {
    if (docker.kind === 'docker0-configure') {
      if (docker.daemonJson !== undefined) {
        const w = writeDaemonJson(o.daemonJson, docker.daemonJson)
        log.info('docker-daemon-json-written', { file: o.daemonJson, bip: bipOf(subnet), ...(subnet6 !== undefined ? { fixedCidrV6: formatPrefix6(subnet6) } : {}), backup: w.backup, backupCreated: w.backupCreated })
      }
      log.warn('docker-restarting', { via: docker.restart.via, command: docker.restart.display, note: 'containers without --restart or live-restore stop' })
      const r = await runRestart(docker.restart)
      if (r.code !== 0) throw new Error(`restarting Docker (${docker.restart.display}) failed with code ${r.code}: ${r.output}`)
      const ok = await waitFor(async () => ((await refreshBridge()) ? true : undefined), { timeoutMs: 90_000, intervalMs: 500 })
      if (!ok) {
        const liveRestore = /"live-restore"\s*:\s*true/.test(readIfExists(o.daemonJson) ?? '')
        throw new Error(`Docker was restarted but docker0 still does not have ${bipOf(subnet)}${subnet6 !== undefined ? ` and ${bip6Of(subnet6)}` : ''} after 90 s; check ${o.daemonJson} and the Docker daemon's log` +
          (liveRestore ? '. "live-restore" is on: Docker keeps docker0 as it was while containers are running; stop them (or turn live-restore off), restart Docker, then start fabric again' : ''))
      }
      log.info('docker-configured', { bridge: 'docker0', bip: bipOf(subnet), ...(subnet6 !== undefined ? { bip6: bip6Of(subnet6) } : {}) })
    } else if (docker.kind === 'network' && !docker.exists) {
      const body = networkCreateBody(docker.name, subnet, docker.version, undefined, subnet6)
      const res = await dockerApi<{ Id: string }>(o.dockerSocket, 'POST', '/networks/create', body)
      networkCreated = true
      const net = await inspectNetwork(o.dockerSocket, docker.name)
      bridge = net ? networkBridge(net) : `br-${res.Id.slice(0, 12)}`
      log.info('docker-network-created', { name: docker.name, subnet: formatPrefix(subnet), ...(subnet6 !== undefined ? { subnet6: formatPrefix6(subnet6) } : {}), bridge, options: body.Options })
    }
  }

  return {
    async preflight() {
      if (errors.length > 0) throw new AgentStartError(errors.join('\n'), EXIT.USAGE)
      docker = await planDocker()
      await nets.preflight()
      if (o.firewall) {
        try {
          const d = await detectIptables(o.iptablesBackend)
          ipt = d.ipt
          backendReason = d.reason
        } catch (e) {
          throw new AgentStartError((e as Error).message, EXIT.USAGE)
        }
        if (spec6) {
          const d6 = await detectIp6tables(ipt.backend)
          if ('missing' in d6) ip6Missing = d6.missing
          else {
            ipt6 = d6.ipt
            ip6Reason = d6.reason
          }
        }
      }
    },
    async start() {
      const forwardingSet = enableIpForwarding()
      if (forwardingSet) log.info('sysctl-set', { key: 'net.ipv4.ip_forward', value: 1 })
      const rp = effectiveRpFilter(self.interface)
      if (rp === 1) ctx.warn('rp-filter-strict', `rp_filter is strict (1) on ${self.interface}; routed container traffic from other hosts may be dropped. Set net.ipv4.conf.all.rp_filter=2 (loose)`)
      if (docker.kind === 'none') log.info('docker-not-found', { note: docker.reason })
      await applyDocker()
      await nets.start()
      if (ip6Missing) {
        ctx.warn('ip6tables-missing', `pool6 is configured but ${ip6Missing}: fabric adds no IPv6 firewall chains, so routed IPv6 container traffic is left to the host's ip6tables FORWARD policy and is not masqueraded; install ip6tables (Debian: iptables) and restart the agent`)
      }
      if (ipt) {
        log.info('firewall-backend', { backend: ipt.backend, reason: backendReason, ...(ipt6 ? { ipv6: ipt6.names.save, ipv6Reason: ip6Reason } : {}) })
        await checkFirewall('start')
        // on nf_tables change events (polling only where there are none: legacy iptables)
        watch = new FirewallWatch({ backend: ipt.backend, log, pollMs: o.firewallCheckInterval * 1000, check: () => checkFirewall('periodic') })
        watch.start()
      }
    },
    async stop() {
      watch?.stop()
      watch = undefined
    },
    async leave() {
      watch?.stop()
      watch = undefined
      if (ipt) {
        const saved = await ipt.save(['filter', 'nat'])
        const plan = planRemove(saved)
        if (plan.script) await ipt.restore(plan.script)
        const changes = [...plan.changes]
        if (ipt6) {
          const saved6 = await ipt6.save(['filter', 'nat'])
          const plan6 = planRemove(saved6)
          if (plan6.script) await ipt6.restore(plan6.script)
          changes.push(...plan6.changes.map((c) => `ip6tables ${c}`))
        }
        fw.inSync = true
        log.info('firewall-removed', { changes })
      }
      if (docker.kind === 'network') {
        const net = await inspectNetwork(o.dockerSocket, docker.name).catch(() => undefined)
        const attached = Object.keys(net?.Containers ?? {}).length
        if (net && net.Labels?.[MANAGED_LABEL] === 'true' && attached === 0) {
          await dockerApi(o.dockerSocket, 'DELETE', `/networks/${encodeURIComponent(docker.name)}`)
          log.info('docker-network-removed', { name: docker.name })
        } else if (net && net.Labels?.[MANAGED_LABEL] === 'true') {
          ctx.warn('docker-network-kept', `Docker network ${docker.name} still has ${attached} containers; remove it with docker network rm ${docker.name} once they are gone`)
        }
      }
      const r = restoreDaemonJson(o.daemonJson)
      if (r !== 'no-backup') {
        log.warn('docker-daemon-json-restored', { file: o.daemonJson, how: r, note: 'restart Docker to give docker0 its previous subnet back' })
      }
      const networks = await nets.leave()
      return networks ? { networks } : undefined
    },
    status() {
      const dockerStatus: Record<string, unknown> = { mode: docker.kind === 'network' ? 'network' : docker.kind === 'none' ? 'none' : 'docker0', version: dockerVersion ?? null }
      if (docker.kind === 'network') Object.assign(dockerStatus, { network: docker.name, bridge, created: networkCreated })
      if (docker.kind === 'docker0-ok' || docker.kind === 'docker0-configure') {
        // the last reading (the status path never waits on the kernel); the next one starts now
        void refreshBridge()
        Object.assign(dockerStatus, { bridge: 'docker0', bip: bipOf(subnet), ...(subnet6 !== undefined ? { fixedCidrV6: formatPrefix6(subnet6), bip6: bip6Of(subnet6) } : {}), bridgeMatches: bridge0.matches, daemonJson: o.daemonJson, allowDirectRouting: versionAtLeast(dockerVersion, 28, 2) })
      }
      return {
        inSync: fw.inSync,
        ipForwarding: true,
        subnet: formatPrefix(subnet),
        docker: dockerStatus,
        networks: nets.status({ enabled: o.firewall, inSync: fw.inSync }),
        firewall: o.firewall
          ? {
            enabled: true, backend: ipt?.backend ?? null, chains: [FORWARD_CHAIN, POSTROUTING_CHAIN], forwardJumpFrom: fw.parent || null, inSync: fw.inSync, watch: watch?.mode ?? null, checks: fw.checks, restored: fw.restored, lastCheck: fw.lastCheck ?? null, lastError: fw.lastError ?? null,
            // dual-stack host: the same chains in ip6tables, checked and repaired with the IPv4 ones
            ...(spec6 ? { ipv6: ipt6 ? { enabled: true, chains: [FORWARD_CHAIN, POSTROUTING_CHAIN], forwardJumpFrom: fw6.parent || null, inSync: fw.inSync } : { enabled: false, reason: ip6Missing ?? null } } : {}),
          }
          : { enabled: false },
      }
    },
  }
}
