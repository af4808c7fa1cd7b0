/**
 * The RIP key file ([rip] key-file, --key-file): the key chain for
 * authentication, one key per line.
 *
 *   # comment (lines starting with #; blank lines are ignored)
 *   # ID  ALGORITHM    SECRET          [send-from=TIME] [send-until=TIME] [accept-from=TIME] [accept-until=TIME]
 *   1     md5          fabric-md5
 *   2     hmac-sha256  hex:6b6579...   send-from=2025-06-01T00:00:00Z
 *
 * ID        key id 0..255, unique (sent in every packet; peers must use the same id)
 * ALGORITHM password | md5 | hmac-sha256, matching [rip] auth (password, md5, sha256)
 * SECRET    the shared secret: a word without whitespace, or hex:HEXDIGITS for
 *           arbitrary bytes; password and md5 secrets are at most 16 bytes
 * TIME      ISO 8601 (2025-06-01T00:00:00Z or 2025-06-01): the key is sent /
 *           accepted from (inclusive) / until (exclusive) that time. Several
 *           keys with overlapping windows make a rotation: the newest valid
 *           send key signs, every valid accept key verifies.
 *
 * The line walk, ID and SECRET checks and loading are config/key-file.ts's
 * (shared with the BFD key file); this file has RIP's algorithms and options.
 */
import { type KeyFileError, type KeyFileSpec, loadKeyLines, parseKeyLines } from '../../config/key-file.js'
import type { RipAuthType } from '../../config/rip-config.js'
import { type Result, err, ok } from '../../util/result.js'
import { type RipAuthAlgorithm, type RipKey, validateKeyChain } from './auth.js'

/** The key algorithm each [rip] auth value needs. */
export const ALGORITHM_OF_AUTH: Record<Exclude<RipAuthType, 'none'>, RipAuthAlgorithm> = {
  password: 'password',
  md5: 'md5',
  sha256: 'hmac-sha256',
}

const ALGORITHMS: Record<string, RipAuthAlgorithm> = {
  password: 'password',
  md5: 'md5',
  'keyed-md5': 'md5',
  'hmac-sha256': 'hmac-sha256',
  sha256: 'hmac-sha256',
}

const TIME_OPTIONS = { 'send-from': 'sendFrom', 'send-until': 'sendUntil', 'accept-from': 'acceptFrom', 'accept-until': 'acceptUntil' } as const

export const KEY_LINE_FORMAT = 'ID ALGORITHM SECRET [send-from=TIME] [send-until=TIME] [accept-from=TIME] [accept-until=TIME]'

export type { KeyFileError } from '../../config/key-file.js'

function ripKeySpec(auth: Exclude<RipAuthType, 'none'>): KeyFileSpec<RipAuthAlgorithm, RipKey> {
  const want = ALGORITHM_OF_AUTH[auth]
  return {
    format: KEY_LINE_FORMAT,
    options: true,
    algorithm: (text) => {
      const algorithm = ALGORITHMS[text.toLowerCase()]
      if (!algorithm) return err(`algorithm "${text}": expected password, md5 or hmac-sha256`)
      if (algorithm !== want) return err(`algorithm ${algorithm} does not match [rip] auth = ${auth} (expected ${want})`)
      return ok(algorithm)
    },
    maxSecret: (algorithm) => (algorithm === 'password' || algorithm === 'md5' ? { bytes: 16, name: algorithm } : undefined),
    key: ({ id, algorithm, secret, options }, keys) => {
      const key: { -readonly [K in keyof RipKey]: RipKey[K] } = { id, secret, algorithm }
      for (const opt of options) {
        const eq = opt.indexOf('=')
        const name = eq > 0 ? opt.slice(0, eq) : opt
        const field = (TIME_OPTIONS as Record<string, keyof typeof key>)[name]
        if (!field) return err(`option "${opt}": expected send-from=TIME, send-until=TIME, accept-from=TIME or accept-until=TIME`)
        const value = eq > 0 ? opt.slice(eq + 1) : ''
        const ms = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value) ? Date.parse(value) : NaN
        if (Number.isNaN(ms)) return err(`${name} "${value}": expected an ISO 8601 time such as 2025-06-01T00:00:00Z`)
        ;(key as Record<string, unknown>)[field] = ms
      }
      if (key.sendFrom !== undefined && key.sendUntil !== undefined && key.sendUntil <= key.sendFrom) return err('send-until must be after send-from')
      if (key.acceptFrom !== undefined && key.acceptUntil !== undefined && key.acceptUntil <= key.acceptFrom) return err('accept-until must be after accept-from')
      const dup = keys.find((k) => k.key.id === id)
      if (dup && algorithm !== 'password') return err(`key id ${id} is already defined on line ${dup.at}`)
      return ok(key)
    },
  }
}

/** Parses a key file's text. `auth` is the configured [rip] auth (keys must match it). */
export function parseKeyFile(text: string, auth: Exclude<RipAuthType, 'none'>): Result<RipKey[], KeyFileError[]> {
  const parsed = parseKeyLines(text, ripKeySpec(auth))
  if (!parsed.ok) return parsed
  const chain = validateKeyChain({ keys: parsed.value })
  if (!chain.ok) return err([{ line: 0, message: chain.error }])
  return parsed
}

export interface LoadedKeys {
  keys: RipKey[]
  /** warnings (e.g. the file is readable by others) */
  warnings: string[]
}

/**
 * Reads and parses a key file; throws an Error whose message names the
 * file, the line and what is expected (one line per problem).
 */
export function loadKeyFile(file: string, auth: Exclude<RipAuthType, 'none'>): LoadedKeys {
  return loadKeyLines(file, '[rip] key-file', KEY_LINE_FORMAT, (text) => parseKeyFile(text, auth))
}

/** Keys for status output: never the secret. */
export function describeKeys(keys: readonly RipKey[], now: number): Record<string, unknown>[] {
  const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t).toISOString())
  const within = (from: number | undefined, until: number | undefined) => (from === undefined || now >= from) && (until === undefined || now < until)
  return keys.map((k) => ({
    id: k.id,
    algorithm: k.algorithm,
    send: within(k.sendFrom, k.sendUntil),
    accept: within(k.acceptFrom, k.acceptUntil),
    ...(k.sendFrom !== undefined ? { sendFrom: iso(k.sendFrom) } : {}),
    ...(k.sendUntil !== undefined ? { sendUntil: iso(k.sendUntil) } : {}),
    ...(k.acceptFrom !== undefined ? { acceptFrom: iso(k.acceptFrom) } : {}),
    ...(k.acceptUntil !== undefined ? { acceptUntil: iso(k.acceptUntil) } : {}),
  }))
}
