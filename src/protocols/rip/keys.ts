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
 * Parsing is pure (text in, keys or located errors out); loading reads the file.
 */
import { readFileSync, statSync } from 'node:fs'
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

export interface KeyFileError {
  line: number
  message: string
}

/** Parses a key file's text. `auth` is the configured [rip] auth (keys must match it). */
export function parseKeyFile(text: string, auth: Exclude<RipAuthType, 'none'>): Result<RipKey[], KeyFileError[]> {
  const errors: KeyFileError[] = []
  const keys: RipKey[] = []
  const lineOf = new Map<RipKey, number>()
  const want = ALGORITHM_OF_AUTH[auth]
  const lines = text.split(/\r?\n/)
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim()
    if (line === '' || line.startsWith('#')) continue
    const at = n + 1
    const words = line.split(/\s+/)
    if (words.length < 3) {
      errors.push({ line: at, message: `expected "${KEY_LINE_FORMAT}", got ${words.length} field${words.length === 1 ? '' : 's'}` })
      continue
    }
    const [idText, algText, secretText, ...opts] = words as [string, string, string, ...string[]]
    const id = /^\d{1,3}$/.test(idText) ? Number(idText) : NaN
    if (!(id >= 0 && id <= 255)) {
      errors.push({ line: at, message: `key id "${idText}": expected an integer 0..255` })
      continue
    }
    const algorithm = ALGORITHMS[algText.toLowerCase()]
    if (!algorithm) {
      errors.push({ line: at, message: `algorithm "${algText}": expected password, md5 or hmac-sha256` })
      continue
    }
    if (algorithm !== want) {
      errors.push({ line: at, message: `algorithm ${algorithm} does not match [rip] auth = ${auth} (expected ${want})` })
      continue
    }
    let secret: Buffer
    if (secretText.toLowerCase().startsWith('hex:')) {
      const hex = secretText.slice(4)
      if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) {
        errors.push({ line: at, message: 'secret "hex:...": expected an even number of hex digits after hex:' })
        continue
      }
      secret = Buffer.from(hex, 'hex')
    } else {
      secret = Buffer.from(secretText, 'utf8')
    }
    if ((algorithm === 'password' || algorithm === 'md5') && secret.length > 16) {
      errors.push({ line: at, message: `a ${algorithm} secret is at most 16 bytes (got ${secret.length})` })
      continue
    }
    const key: { -readonly [K in keyof RipKey]: RipKey[K] } = { id, secret, algorithm }
    let bad = false
    for (const opt of opts) {
      const eq = opt.indexOf('=')
      const name = eq > 0 ? opt.slice(0, eq) : opt
      const field = (TIME_OPTIONS as Record<string, keyof typeof key>)[name]
      if (!field) {
        errors.push({ line: at, message: `option "${opt}": expected send-from=TIME, send-until=TIME, accept-from=TIME or accept-until=TIME` })
        bad = true
        break
      }
      const value = eq > 0 ? opt.slice(eq + 1) : ''
      const ms = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value) ? Date.parse(value) : NaN
      if (Number.isNaN(ms)) {
        errors.push({ line: at, message: `${name} "${value}": expected an ISO 8601 time such as 2025-06-01T00:00:00Z` })
        bad = true
        break
      }
      ;(key as Record<string, unknown>)[field] = ms
    }
    if (bad) continue
    if (key.sendFrom !== undefined && key.sendUntil !== undefined && key.sendUntil <= key.sendFrom) {
      errors.push({ line: at, message: 'send-until must be after send-from' })
      continue
    }
    if (key.acceptFrom !== undefined && key.acceptUntil !== undefined && key.acceptUntil <= key.acceptFrom) {
      errors.push({ line: at, message: 'accept-until must be after accept-from' })
      continue
    }
    const dup = keys.find((k) => k.id === id)
    if (dup && algorithm !== 'password') {
      errors.push({ line: at, message: `key id ${id} is already defined on line ${lineOf.get(dup)}` })
      continue
    }
    keys.push(key)
    lineOf.set(key, at)
  }
  if (errors.length === 0 && keys.length === 0) errors.push({ line: 0, message: `no keys; expected at least one line "${KEY_LINE_FORMAT}"` })
  if (errors.length > 0) return err(errors)
  const chain = validateKeyChain({ keys })
  if (!chain.ok) return err([{ line: 0, message: chain.error }])
  return ok(keys)
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
  let text: string
  let mode: number
  try {
    text = readFileSync(file, 'utf8')
    mode = statSync(file).mode
  } catch (e) {
    throw new Error(`[rip] key-file ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); expected a readable file of lines "${KEY_LINE_FORMAT}"`)
  }
  const parsed = parseKeyFile(text, auth)
  if (!parsed.ok) {
    throw new Error(parsed.error.map((e) => `${file}${e.line > 0 ? `:${e.line}` : ''}: ${e.message}`).join('\n'))
  }
  const warnings = (mode & 0o077) !== 0 ? [`key file ${file} is readable by group or others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`] : []
  return { keys: parsed.value, warnings }
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
