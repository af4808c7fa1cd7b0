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
import type { Logger } from '../agent/log.js'
import type { SelfInfo } from '../agent/self.js'
import type { FabricConfig } from '../config/fabric-config.js'
import { effectiveRpFilter, enableIpForwarding } from '../kernel/sysctl.js'
import type { Prefix } from '../net/ipv4.js'

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
  leave(): Promise<void>
  /** shown under `host` in /v1/status; `inSync: false` makes the agent unhealthy */
  status(): Record<string, unknown> & { inSync: boolean }
}

export interface SubnetRequest {
  config: FabricConfig
  address: number
  stateDir: string
  log: Logger
  options: Record<string, unknown>
}

/**
 * This host's subnet when neither --subnet nor a [host.*] entry gives it.
 * Returns undefined when automatic allocation is not possible.
 */
export async function resolveSubnet(_req: SubnetRequest): Promise<Prefix | undefined> {
  return undefined
}

export async function createHostHooks(ctx: HostHookContext): Promise<HostHooks> {
  let forwardingSet = false
  return {
    async preflight() {},
    async start() {
      forwardingSet = enableIpForwarding()
      if (forwardingSet) ctx.log.info('sysctl-set', { key: 'net.ipv4.ip_forward', value: 1 })
      const rp = effectiveRpFilter(ctx.self.interface)
      if (rp === 1) ctx.warn('rp-filter-strict', `rp_filter is strict (1) on ${ctx.self.interface}; routed container traffic from other hosts may be dropped. Set net.ipv4.conf.all.rp_filter=2 (loose)`)
    },
    async stop() {},
    async leave() {},
    status() {
      return { inSync: true, ipForwarding: true }
    },
  }
}
