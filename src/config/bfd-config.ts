/**
 * The BFD keys shared by [bgp], [peer.NAME] and [rip]:
 *
 *   bfd            = yes | no            (default no)
 *   bfd-interval   = MS                  10..10000, default 100: Desired Min TX and Required Min RX
 *   bfd-multiplier = N                   1..255, default 3
 *   bfd-auth       = none | simple | md5 | meticulous-md5 | sha1 | meticulous-sha1   (default none)
 *   bfd-key-file   = PATH                required with bfd-auth other than none
 *
 * The key file has RIP's line format (src/protocols/rip/keys.ts), without
 * the time options:
 *
 *   # ID  ALGORITHM        SECRET
 *   1     meticulous-sha1  hex:6b6579...
 *
 * ID 0..255; ALGORITHM must equal bfd-auth; SECRET a word or hex:HEXDIGITS,
 * at most 16 bytes (simple, md5) or 20 bytes (sha1). The first key signs,
 * every key verifies.
 *
 * A section calls readBfdSection() with its name, its ini section and flag
 * overrides (flags bfd, bfd-interval, ... for [bgp]/[rip]; [peer.NAME] has no
 * flags, pass {}), and merges its keys into its own schema with BFD_KEYS;
 * resolveBfd() fills a [peer.NAME] from the [bgp] values.
 */
import { type Result, err, ok } from '../util/result.js'
import { ConfigError } from './errors.js'
import { type KeyFileError, type KeyFileSpec, loadKeyLines, parseKeyLines } from './key-file.js'
import type { IniSection } from './ini.js'
import { type KeySpec, type SectionValues, get, readSection } from './section.js'
import * as v from './values.js'

/** BFD authentication types (RFC 5880 4.2-4.4); the codec uses the same names */
export const BFD_AUTH_TYPES = ['simple', 'md5', 'meticulous-md5', 'sha1', 'meticulous-sha1'] as const
export type BfdAuthType = (typeof BFD_AUTH_TYPES)[number]
export type BfdAuthSetting = 'none' | BfdAuthType

export const BFD_AUTH_VALUES: readonly BfdAuthSetting[] = ['none', 'simple', 'md5', 'meticulous-md5', 'sha1', 'meticulous-sha1']
export const BFD_INTERVAL_MIN = 10
export const BFD_INTERVAL_MAX = 10_000

export interface BfdConfig {
  enabled: boolean
  /** ms */
  interval: number
  multiplier: number
  auth: BfdAuthSetting
  keyFile?: string
}

export const BFD_DEFAULTS: BfdConfig = { enabled: false, interval: 100, multiplier: 3, auth: 'none' }

/** The schema entries; `flagPrefix` '' gives flags bfd, bfd-interval, ...; undefined gives no flags. */
export function bfdKeys(flagPrefix: string | undefined): Record<string, KeySpec> {
  const flag = (name: string) => (flagPrefix === undefined ? {} : { flag: `${flagPrefix}${name}` })
  return {
    bfd: { parse: v.bool, ...flag('bfd'), description: 'run BFD (RFC 5880/5881) with the neighbours: a dead neighbour is noticed in interval x multiplier', default: 'no' },
    'bfd-interval': { parse: (s) => v.intIn(s.trim().replace(/ms$/, ''), BFD_INTERVAL_MIN, BFD_INTERVAL_MAX, 'milliseconds'), ...flag('bfd-interval'), description: 'BFD transmit and receive interval in ms', default: '100' },
    'bfd-multiplier': { parse: (s) => v.intIn(s, 1, 255, 'multiplier'), ...flag('bfd-multiplier'), description: 'BFD packets missed before the neighbour is declared down', default: '3' },
    'bfd-auth': {
      parse: (s) => ((BFD_AUTH_VALUES as readonly string[]).includes(s.trim()) ? { ok: true, value: s.trim() } : { ok: false, error: `one of ${BFD_AUTH_VALUES.join(', ')}` }),
      ...flag('bfd-auth'),
      description: 'BFD authentication (RFC 5880 6.7)',
      default: 'none',
    },
    'bfd-key-file': { parse: (s) => (s.trim() === '' ? { ok: false, error: 'a file name' } : { ok: true, value: s.trim() }), ...flag('bfd-key-file'), description: 'file with the BFD keys (lines "ID ALGORITHM SECRET")', default: 'none; required with bfd-auth' },
  }
}

/** Reads the BFD keys out of values read with a schema that includes bfdKeys(); `base` fills what is absent. */
export function bfdFromValues(opts: { file: string; sectionName: string; values: SectionValues; base?: BfdConfig; errors: ConfigError[] }): BfdConfig {
  const base = opts.base ?? BFD_DEFAULTS
  const { values } = opts
  const config: BfdConfig = {
    enabled: get(values, 'bfd', base.enabled),
    interval: get(values, 'bfd-interval', base.interval),
    multiplier: get(values, 'bfd-multiplier', base.multiplier),
    auth: get(values, 'bfd-auth', base.auth),
  }
  const keyFile = get<string | undefined>(values, 'bfd-key-file', base.keyFile)
  if (keyFile !== undefined) config.keyFile = keyFile
  if (config.enabled && config.auth !== 'none' && config.keyFile === undefined) {
    opts.errors.push(new ConfigError({ where: values.get('bfd-auth')?.where ?? opts.file, section: opts.sectionName, key: 'bfd-key-file', expected: `required with bfd-auth = ${config.auth}` }))
  }
  return config
}

/**
 * Reads only the BFD keys of a section (other keys are left to the
 * section's own reader: pass a section filtered to bfd* keys, or use
 * bfdKeys() in the section's schema and bfdFromValues()).
 */
export function readBfdSection(opts: { file: string; sectionName: string; section: IniSection | undefined; overrides: Record<string, string | undefined>; flagPrefix?: string; base?: BfdConfig; errors: ConfigError[] }): BfdConfig {
  const keys = bfdKeys(opts.flagPrefix)
  const section: IniSection | undefined = opts.section ? { ...opts.section, entries: new Map([...opts.section.entries].filter(([k]) => k in keys)) } : undefined
  const values = readSection({ file: opts.file, sectionName: opts.sectionName, section, keys, overrides: opts.overrides, errors: opts.errors })
  return bfdFromValues({ file: opts.file, sectionName: opts.sectionName, values, ...(opts.base ? { base: opts.base } : {}), errors: opts.errors })
}

export interface BfdKeyLine {
  id: number
  secret: Buffer
}

export const BFD_KEY_LINE_FORMAT = 'ID ALGORITHM SECRET'

function bfdKeySpec(auth: BfdAuthType): KeyFileSpec<BfdAuthType, BfdKeyLine> {
  return {
    format: BFD_KEY_LINE_FORMAT,
    options: false,
    algorithm: (alg) => (alg.toLowerCase() === auth ? ok(auth) : err(`algorithm "${alg}" does not match bfd-auth = ${auth}`)),
    maxSecret: () => ({ bytes: auth === 'sha1' || auth === 'meticulous-sha1' ? 20 : 16, name: auth }),
    key: ({ id, secret }, keys) => (keys.some((k) => k.key.id === id) ? err(`key id ${id} is defined twice`) : ok({ id, secret })),
  }
}

/** Parses a BFD key file's text; `auth` is the configured bfd-auth. Errors carry the line (0: whole file). */
export function parseBfdKeyFile(text: string, auth: BfdAuthType): Result<BfdKeyLine[], KeyFileError[]> {
  return parseKeyLines(text, bfdKeySpec(auth))
}

/** Reads and parses a key file; throws an Error naming file:line and what is expected. Warns when others can read it. */
export function loadBfdKeyFile(file: string, auth: BfdAuthType): { keys: BfdKeyLine[]; warnings: string[] } {
  return loadKeyLines(file, 'bfd-key-file', BFD_KEY_LINE_FORMAT, (text) => parseBfdKeyFile(text, auth))
}
