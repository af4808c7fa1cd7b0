/**
 * The flags of `fabric join` as plain data (no @oclif/core): the oclif command
 * (commands/join.ts) builds its flags from them, and the agent's start
 * (commands/join-main.ts) parses them without loading oclif.
 */
import { BGP_KEYS } from '../config/bgp-config.js'
import { MODES } from '../config/fabric-config.js'
import { RIP_KEYS } from '../config/rip-config.js'
import type { ConfigOverrides } from '../config/fabric-config.js'
import { type KeySpec, envOf } from '../config/section.js'
import { HOST_HELP_GROUP, HOST_OPTIONS } from '../host/flags.js'
import { CONFIG_SPEC, type FlagSpec, type FlagSpecs, type FlagValues, LOG_LEVEL_SPEC, SOCKET_SPEC, STATE_DIR_SPEC } from './plain-flags.js'

/** Keys that may be given several times on the command line (joined with commas). */
const REPEATABLE = new Set(['listen-range', 'neighbor', 'allow', 'allow6', 'rip-allow'])

/** One flag per [bgp]/[rip] key, generated from the config schema so flags and keys never drift apart. */
function sectionFlags(section: string, keys: Record<string, KeySpec>): FlagSpecs {
  const out: FlagSpecs = {}
  for (const [key, spec] of Object.entries(keys)) {
    if (!spec.flag) continue
    out[spec.flag] = {
      type: 'string',
      description: `[${section}] ${key}: ${spec.description}${spec.default ? ` [default: ${spec.default}]` : ''}`,
      env: envOf(spec.flag),
      helpGroup: section.toUpperCase(),
      ...(REPEATABLE.has(spec.flag) ? { multiple: true } : {}),
    }
  }
  return out
}

function hostFlags(): FlagSpecs {
  const out: FlagSpecs = {}
  for (const [name, s] of Object.entries(HOST_OPTIONS) as [string, (typeof HOST_OPTIONS)[keyof typeof HOST_OPTIONS]][]) {
    out[name] = { ...s, helpGroup: HOST_HELP_GROUP } as FlagSpec
  }
  return out
}

export const JOIN_FLAGS: FlagSpecs = {
  config: CONFIG_SPEC,
  address: { type: 'string', description: "this host's underlay address (default: found by matching interface addresses to [host.*])", env: 'FABRIC_ADDRESS' },
  pool: { type: 'string', description: '[fabric] pool: CIDR all container subnets are cut from', env: 'FABRIC_POOL' },
  'host-prefix': { type: 'string', description: '[fabric] host-prefix: length of each host subnet (8-30)', env: 'FABRIC_HOST_PREFIX' },
  mode: { type: 'string', description: '[fabric] mode', options: MODES, env: 'FABRIC_MODE' },
  'route-protocol': { type: 'string', description: '[fabric] route-protocol: kernel protocol name/number for fabric routes', env: 'FABRIC_ROUTE_PROTOCOL' },
  underlay: { type: 'string', description: '[fabric] underlay: CIDR of the underlay network (optional check)', env: 'FABRIC_UNDERLAY' },
  'reconcile-interval': { type: 'string', description: '[fabric] reconcile-interval: seconds between full kernel reconciles', env: 'FABRIC_RECONCILE_INTERVAL' },
  subnet: { type: 'string', description: "this host's container subnet (modes rip/bgp without a [host.*] entry)", env: 'FABRIC_SUBNET' },
  pool6: { type: 'string', description: '[fabric] pool6: IPv6 prefix all IPv6 container subnets are cut from (absent: IPv4 only)', env: 'FABRIC_POOL6' },
  'host-prefix6': { type: 'string', description: '[fabric] host-prefix6: length of each host IPv6 subnet (48-120) [default: 64]', env: 'FABRIC_HOST_PREFIX6' },
  subnet6: { type: 'string', description: "this host's IPv6 container subnet (default: [host.*] subnet6, else automatic in modes rip/bgp)", env: 'FABRIC_SUBNET6' },
  address6: { type: 'string', description: "this host's underlay IPv6 address (default: [host.*] address6, else the one global IPv6 address of the underlay interface)", env: 'FABRIC_ADDRESS6' },
  peer: { type: 'string', description: 'BGP peer ADDRESS[@ASN] (repeatable; iBGP when no ASN)', env: 'FABRIC_PEER', multiple: true, helpGroup: 'BGP' },
  ...sectionFlags('bgp', BGP_KEYS),
  ...sectionFlags('rip', RIP_KEYS),
  ...hostFlags(),
  'state-dir': STATE_DIR_SPEC,
  socket: SOCKET_SPEC,
  'log-level': LOG_LEVEL_SPEC,
  'metrics-listen': { type: 'string', description: 'serve Prometheus metrics at http://ADDR:PORT/metrics (off by default)', env: 'FABRIC_METRICS_LISTEN' },
  'log-format': { type: 'string', description: 'log format [default: human on a terminal, else json]', options: ['json', 'human'], env: 'FABRIC_LOG_FORMAT' },
}

/** The [bgp] / [rip] overrides among the parsed flags, by flag name (repeated flags joined with commas). */
export function sectionOverrides(flags: FlagValues, keys: Record<string, KeySpec>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {}
  for (const spec of Object.values(keys)) {
    if (!spec.flag) continue
    const v = flags[spec.flag]
    if (v === undefined) continue
    out[spec.flag] = Array.isArray(v) ? v.join(',') : String(v)
  }
  return out
}

const str = (v: FlagValues[string]): string | undefined => (typeof v === 'string' ? v : undefined)

/**
 * The config overrides among the parsed `fabric join` flags. --peer given on
 * the command line is a list; from FABRIC_PEER it is one comma-separated
 * string (oclif does not split an env var of a repeatable flag).
 */
export function joinOverrides(flags: FlagValues): ConfigOverrides {
  const peer = flags.peer
  return {
    pool: str(flags.pool), hostPrefix: str(flags['host-prefix']), mode: str(flags.mode), routeProtocol: str(flags['route-protocol']),
    underlay: str(flags.underlay), reconcileInterval: str(flags['reconcile-interval']), subnet: str(flags.subnet),
    pool6: str(flags.pool6), hostPrefix6: str(flags['host-prefix6']), subnet6: str(flags.subnet6), address6: str(flags.address6),
    peers: typeof peer === 'string' ? peer.split(',').map((p) => p.trim()).filter((p) => p !== '') : Array.isArray(peer) ? peer : undefined,
    bgp: sectionOverrides(flags, BGP_KEYS), rip: sectionOverrides(flags, RIP_KEYS),
  }
}
