import { existsSync } from 'node:fs'
import { Command, Flags } from '@oclif/core'
import { Agent } from '../agent/agent.js'
import { EventHub } from '../agent/events.js'
import { tuneHeapForAgent } from '../agent/heap.js'
import { type Level, createLogger } from '../core/log.js'
import { ConfigErrors } from '../config/errors.js'
import { BGP_KEYS } from '../config/bgp-config.js'
import { MODES } from '../config/fabric-config.js'
import { RIP_KEYS } from '../config/rip-config.js'
import { type KeySpec, envOf } from '../config/section.js'
import { AgentStartError, EXIT } from '../core/errors.js'
import { HOST_FLAGS, hostOptions } from '../cli-support/host-flags.js'
import { DEFAULT_CONFIG, configFlag, logLevelFlag, socketFlag, stateDirFlag } from '../cli-support/flags.js'

/** Keys that may be given several times on the command line (joined with commas). */
const REPEATABLE = new Set(['listen-range', 'neighbor', 'allow', 'rip-allow'])

/** One flag per [bgp]/[rip] key, generated from the config schema so flags and keys never drift apart. */
function sectionFlags(section: string, keys: Record<string, KeySpec>) {
  const out: Record<string, ReturnType<typeof Flags.string>> = {}
  for (const [key, spec] of Object.entries(keys)) {
    if (!spec.flag) continue
    const base = {
      description: `[${section}] ${key}: ${spec.description}${spec.default ? ` [default: ${spec.default}]` : ''}`,
      env: envOf(spec.flag),
      helpGroup: section.toUpperCase(),
    }
    out[spec.flag] = (REPEATABLE.has(spec.flag) ? Flags.string({ ...base, multiple: true }) : Flags.string(base)) as ReturnType<typeof Flags.string>
  }
  return out
}

function collect(flags: Record<string, unknown>, keys: Record<string, KeySpec>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {}
  for (const spec of Object.values(keys)) {
    if (!spec.flag) continue
    const v = flags[spec.flag]
    if (v === undefined) continue
    out[spec.flag] = Array.isArray(v) ? v.join(',') : String(v)
  }
  return out
}

export default class Join extends Command {
  static override description = `Join this host to the fabric: run the agent in the foreground.

Reads fabric.ini (every key can be given as a flag or FABRIC_* env var; flags win), finds this host by its interface addresses (or --address), enables IPv4 forwarding and installs a route to every other host's container subnet via its underlay address. SIGHUP re-reads fabric.ini; SIGTERM/SIGINT stop the agent and leave its routes in place, and a restart adopts them.`

  static override examples = [
    '<%= config.bin %> join --config /etc/fabric/fabric.ini',
    '<%= config.bin %> join --config fabric.ini --address 192.168.18.128 --log-level debug',
  ]

  static override flags = {
    config: configFlag,
    address: Flags.string({ description: "this host's underlay address (default: found by matching interface addresses to [host.*])", env: 'FABRIC_ADDRESS' }),
    pool: Flags.string({ description: '[fabric] pool: CIDR all container subnets are cut from', env: 'FABRIC_POOL' }),
    'host-prefix': Flags.string({ description: '[fabric] host-prefix: length of each host subnet (8-30)', env: 'FABRIC_HOST_PREFIX' }),
    mode: Flags.string({ description: '[fabric] mode', options: [...MODES], env: 'FABRIC_MODE' }),
    'route-protocol': Flags.string({ description: '[fabric] route-protocol: kernel protocol name/number for fabric routes', env: 'FABRIC_ROUTE_PROTOCOL' }),
    underlay: Flags.string({ description: '[fabric] underlay: CIDR of the underlay network (optional check)', env: 'FABRIC_UNDERLAY' }),
    'reconcile-interval': Flags.string({ description: '[fabric] reconcile-interval: seconds between full kernel reconciles', env: 'FABRIC_RECONCILE_INTERVAL' }),
    subnet: Flags.string({ description: "this host's container subnet (modes rip/bgp without a [host.*] entry)", env: 'FABRIC_SUBNET' }),
    pool6: Flags.string({ description: '[fabric] pool6: IPv6 prefix all IPv6 container subnets are cut from (absent: IPv4 only)', env: 'FABRIC_POOL6' }),
    'host-prefix6': Flags.string({ description: '[fabric] host-prefix6: length of each host IPv6 subnet (48-120) [default: 64]', env: 'FABRIC_HOST_PREFIX6' }),
    subnet6: Flags.string({ description: "this host's IPv6 container subnet (default: [host.*] subnet6, else automatic in modes rip/bgp)", env: 'FABRIC_SUBNET6' }),
    address6: Flags.string({ description: "this host's underlay IPv6 address (default: [host.*] address6, else the one global IPv6 address of the underlay interface)", env: 'FABRIC_ADDRESS6' }),
    peer: Flags.string({ description: 'BGP peer ADDRESS[@ASN] (repeatable; iBGP when no ASN)', env: 'FABRIC_PEER', multiple: true, helpGroup: 'BGP' }),
    ...sectionFlags('bgp', BGP_KEYS),
    ...sectionFlags('rip', RIP_KEYS),
    ...HOST_FLAGS,
    'state-dir': stateDirFlag,
    socket: socketFlag,
    'log-level': logLevelFlag,
    'metrics-listen': Flags.string({ description: 'serve Prometheus metrics at http://ADDR:PORT/metrics (off by default)', env: 'FABRIC_METRICS_LISTEN' }),
    'log-format': Flags.string({ description: 'log format [default: human on a terminal, else json]', options: ['json', 'human'], env: 'FABRIC_LOG_FORMAT' }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Join)
    tuneHeapForAgent()
    const events = new EventHub()
    const log = createLogger({ level: flags['log-level'] as Level, format: flags['log-format'] as 'json' | 'human' | undefined, tap: (l, e, f) => events.publish(l, e, f) })
    const configFile = flags.config ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined)
    const agent = new Agent({
      configFile,
      address: flags.address,
      overrides: {
        pool: flags.pool, hostPrefix: flags['host-prefix'], mode: flags.mode, routeProtocol: flags['route-protocol'],
        underlay: flags.underlay, reconcileInterval: flags['reconcile-interval'], subnet: flags.subnet,
        pool6: flags.pool6, hostPrefix6: flags['host-prefix6'], subnet6: flags.subnet6, address6: flags.address6,
        peers: flags.peer, bgp: collect(flags, BGP_KEYS), rip: collect(flags, RIP_KEYS),
      },
      stateDir: flags['state-dir'],
      socket: flags.socket,
      log,
      rtProtosDir: process.env.FABRIC_RT_PROTOS_DIR,
      hostOptions: hostOptions(flags as Record<string, unknown>),
      onLeft: () => left?.(),
      events,
      metricsListen: flags['metrics-listen'],
    })
    let left: (() => void) | undefined
    try {
      await agent.start()
    } catch (e) {
      await agent.stop().catch(() => undefined)
      if (e instanceof ConfigErrors) this.fail(`invalid configuration, nothing was changed:\n${e.message}`, EXIT.USAGE)
      if (e instanceof AgentStartError) this.fail(e.message, e.exitCode)
      this.fail(`cannot start: ${(e as Error).message}`, EXIT.RUNTIME)
    }
    await new Promise<void>((resolve) => {
      left = () => void agent.stop().then(resolve)
      const stop = (signal: string): void => {
        log.info('signal', { signal })
        void agent.stop().then(resolve)
      }
      process.on('SIGTERM', () => stop('SIGTERM'))
      process.on('SIGINT', () => stop('SIGINT'))
      process.on('SIGHUP', () => {
        log.info('signal', { signal: 'SIGHUP' })
        void agent.reload()
      })
    })
  }

  private fail(message: string, code: number): never {
    process.stderr.write(`fabric join: ${message}\n`)
    this.exit(code)
  }
}
