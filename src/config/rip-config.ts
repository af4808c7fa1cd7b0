/**
 * The [rip] section and the RIP flags of `fabric join`.
 *
 * BFD in RIP (bfd = yes, flags --rip-bfd, --rip-bfd-interval, ...: the
 * rip- prefix keeps them apart from [bgp]'s --bfd flags, like --rip-port):
 * as BIRD's `bfd` option of an RIP interface does, one BFD session per
 * neighbour: each configured `neighbor` from the start, and each neighbour
 * heard (an accepted RIP packet) with multicast; the session of a heard
 * neighbour is removed when RIP forgets it (silent for timeout + garbage
 * collection). A session going down withdraws the routes via that neighbour
 * at once; a neighbour that never answers BFD keeps RIP's own timeout.
 */
import type { Prefix } from '../net/ipv4.js'
import { type BfdConfig, bfdFromValues, bfdKeys } from './bfd-config.js'
import { ConfigError } from './errors.js'
import type { IniSection } from './ini.js'
import { type KeySpec, get, readSection } from './section.js'
import * as v from './values.js'

export type SplitHorizon = 'poisoned-reverse' | 'simple' | 'off'
export type RipAuthType = 'none' | 'password' | 'md5' | 'sha256'

export interface RipConfig {
  /** the underlay interface to speak on; the one holding this host's address when absent */
  interface?: string
  /** unicast neighbours (for networks without multicast); multicast 224.0.0.9 when empty */
  neighbors: number[]
  auth: RipAuthType
  /** key file for auth (see docs/configuration.md for its format) */
  keyFile?: string
  updateInterval: number
  timeout: number
  garbageCollection: number
  triggeredMin: number
  triggeredMax: number
  splitHorizon: SplitHorizon
  /** interface cost added to received metrics */
  cost: number
  /** cap on learned routes */
  maxRoutes: number
  /** prefixes accepted besides the pool */
  allow: Prefix[]
  port: number
  /** BFD with the neighbours (bfd-config.ts); parseRip always sets it, absent means off */
  bfd?: BfdConfig
}

function oneOf<T extends string>(values: readonly T[]) {
  return (s: string): v.Parsed<T> => (values as readonly string[]).includes(s.trim()) ? { ok: true, value: s.trim() as T } : { ok: false, error: `one of ${values.join(', ')}` }
}

export const RIP_KEYS: Record<string, KeySpec> = {
  interface: { parse: (s) => (/^[A-Za-z0-9_.@-]{1,15}$/.test(s) ? { ok: true, value: s } : { ok: false, error: 'an interface name' }), flag: 'interface', description: 'underlay interface to speak RIP on', default: "the interface holding this host's address" },
  neighbor: { parse: (s) => v.list(s, v.address), flag: 'neighbor', description: 'unicast neighbours instead of multicast 224.0.0.9 (comma-separated)', default: 'none (multicast)' },
  auth: { parse: oneOf(['none', 'password', 'md5', 'sha256'] as const), flag: 'auth', description: 'authentication: none, password (RFC 2453), md5 (RFC 2082), sha256 (RFC 4822)', default: 'none' },
  'key-file': { parse: (s) => ({ ok: true, value: s.trim() }), flag: 'key-file', description: 'file with the authentication keys (format: docs/protocols.md, "Key file")', default: 'none; required with auth' },
  'update-interval': { parse: (s) => v.seconds(s, 1, 3600), flag: 'rip-update-interval', description: 'seconds between regular updates', default: '30' },
  timeout: { parse: (s) => v.seconds(s, 3, 21600), flag: 'rip-timeout', description: 'seconds without update before a route times out', default: '180' },
  'garbage-collection': { parse: (s) => v.seconds(s, 1, 21600), flag: 'rip-garbage-collection', description: 'seconds a timed-out route is still advertised at 16', default: '120' },
  'triggered-min': { parse: (s) => v.seconds(s, 0, 60), flag: 'rip-triggered-min', description: 'minimum damping of triggered updates', default: '1' },
  'triggered-max': { parse: (s) => v.seconds(s, 0, 60), flag: 'rip-triggered-max', description: 'maximum damping of triggered updates', default: '5' },
  'split-horizon': { parse: oneOf(['poisoned-reverse', 'simple', 'off'] as const), flag: 'split-horizon', description: 'split horizon mode', default: 'poisoned-reverse' },
  cost: { parse: (s) => v.intIn(s, 1, 15, 'cost'), flag: 'rip-cost', description: 'interface cost added to received metrics', default: '1' },
  'max-routes': { parse: (s) => v.intIn(s, 1, 1_000_000, 'count'), flag: 'rip-max-routes', description: 'cap on learned routes', default: '10000' },
  allow: { parse: (s) => v.list(s, v.prefix), flag: 'rip-allow', description: 'prefixes accepted besides the pool', default: 'none' },
  port: { parse: (s) => v.intIn(s, 1, 65535, 'port'), flag: 'rip-port', description: 'UDP port', default: '520' },
  ...bfdKeys('rip-'),
}

export function parseRip(opts: { file: string; section: IniSection | undefined; overrides: Record<string, string | undefined>; errors: ConfigError[] }): RipConfig {
  const values = readSection({ file: opts.file, sectionName: 'rip', section: opts.section, keys: RIP_KEYS, overrides: opts.overrides, errors: opts.errors })
  const config: RipConfig = {
    interface: get<string | undefined>(values, 'interface', undefined),
    neighbors: get(values, 'neighbor', []),
    auth: get(values, 'auth', 'none'),
    keyFile: get<string | undefined>(values, 'key-file', undefined),
    updateInterval: get(values, 'update-interval', 30),
    timeout: get(values, 'timeout', 180),
    garbageCollection: get(values, 'garbage-collection', 120),
    triggeredMin: get(values, 'triggered-min', 1),
    triggeredMax: get(values, 'triggered-max', 5),
    splitHorizon: get(values, 'split-horizon', 'poisoned-reverse'),
    cost: get(values, 'cost', 1),
    maxRoutes: get(values, 'max-routes', 10_000),
    allow: get(values, 'allow', []),
    port: get(values, 'port', 520),
    bfd: bfdFromValues({ file: opts.file, sectionName: 'rip', values, errors: opts.errors }),
  }
  if (config.auth !== 'none' && config.keyFile === undefined) {
    opts.errors.push(new ConfigError({ where: values.get('auth')?.where ?? opts.file, section: 'rip', key: 'key-file', expected: `required with auth = ${config.auth}` }))
  }
  if (config.triggeredMin > config.triggeredMax) {
    opts.errors.push(new ConfigError({ where: values.get('triggered-min')?.where ?? opts.file, section: 'rip', key: 'triggered-min', value: String(config.triggeredMin), expected: `at most triggered-max (${config.triggeredMax})` }))
  }
  return config
}
