/**
 * The key-file line format BFD (bfd-key-file) and RIP ([rip] key-file) share:
 *
 *   # comment (lines starting with #; blank lines are ignored)
 *   ID  ALGORITHM  SECRET  [OPTION...]
 *
 * ID 0..255; SECRET a word without whitespace, or hex:HEXDIGITS for
 * arbitrary bytes. One parser walks the lines and checks the fields both
 * have; each protocol gives its own algorithm table, secret sizes and what
 * the rest of a line means (RIP: time options; BFD: nothing). Parsing is
 * pure (text in, keys or located errors out); loading reads the file.
 */
import { readFileSync, statSync } from 'node:fs'
import { type Result, err, ok } from '../util/result.js'

export interface KeyFileError {
  /** 1-based; 0 for the whole file */
  line: number
  message: string
}

/** The fields of one key line, checked. */
export interface KeyLine<A> {
  /** 1-based line number */
  at: number
  id: number
  algorithm: A
  secret: Buffer
  /** the fields after SECRET */
  options: string[]
}

/** What one protocol's key file means. */
export interface KeyFileSpec<A, K> {
  /** the line format for messages, e.g. "ID ALGORITHM SECRET" */
  format: string
  /** whether fields may follow SECRET (else a line has exactly three) */
  options: boolean
  /** the algorithm a line's ALGORITHM field names, or why it is not acceptable */
  algorithm(text: string): Result<A, string>
  /** the most bytes a secret may have, and what to call it in the message */
  maxSecret(algorithm: A): { bytes: number; name: string } | undefined
  /** the key of a checked line (`keys`: those of the lines before, with their line numbers), or why not */
  key(line: KeyLine<A>, keys: readonly { key: K; at: number }[]): Result<K, string>
}

/** Parses a key file's text; every problem is reported with its line. */
export function parseKeyLines<A, K>(text: string, spec: KeyFileSpec<A, K>): Result<K[], KeyFileError[]> {
  const errors: KeyFileError[] = []
  const keys: { key: K; at: number }[] = []
  const lines = text.split(/\r?\n/)
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim()
    if (line === '' || line.startsWith('#')) continue
    const at = n + 1
    const fail = (message: string): void => void errors.push({ line: at, message })
    const words = line.split(/\s+/)
    if (spec.options ? words.length < 3 : words.length !== 3) {
      fail(`expected "${spec.format}", got ${words.length} field${words.length === 1 ? '' : 's'}`)
      continue
    }
    const [idText, algText, secretText, ...options] = words as [string, string, string, ...string[]]
    const id = /^\d{1,3}$/.test(idText) ? Number(idText) : NaN
    if (!(id >= 0 && id <= 255)) {
      fail(`key id "${idText}": expected an integer 0..255`)
      continue
    }
    const algorithm = spec.algorithm(algText)
    if (!algorithm.ok) {
      fail(algorithm.error)
      continue
    }
    const secret = parseSecret(secretText)
    if (!secret.ok) {
      fail(secret.error)
      continue
    }
    const max = spec.maxSecret(algorithm.value)
    if (max !== undefined && secret.value.length > max.bytes) {
      fail(`a ${max.name} secret is at most ${max.bytes} bytes (got ${secret.value.length})`)
      continue
    }
    const key = spec.key({ at, id, algorithm: algorithm.value, secret: secret.value, options }, keys)
    if (!key.ok) {
      fail(key.error)
      continue
    }
    keys.push({ key: key.value, at })
  }
  if (errors.length === 0 && keys.length === 0) errors.push({ line: 0, message: `no keys; expected at least one line "${spec.format}"` })
  return errors.length > 0 ? err(errors) : ok(keys.map((k) => k.key))
}

/** A SECRET field: a word (its UTF-8 bytes) or hex:HEXDIGITS. */
function parseSecret(text: string): Result<Buffer, string> {
  if (!text.toLowerCase().startsWith('hex:')) return ok(Buffer.from(text, 'utf8'))
  const hex = text.slice(4)
  if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) return err('secret "hex:...": expected an even number of hex digits after hex:')
  return ok(Buffer.from(hex, 'hex'))
}

/**
 * Reads and parses a key file; throws an Error naming the file, the line
 * and what is expected (one line per problem). Warns when others can read it.
 * `what` names the setting in the read error (e.g. "bfd-key-file").
 */
export function loadKeyLines<K>(file: string, what: string, format: string, parse: (text: string) => Result<K[], KeyFileError[]>): { keys: K[]; warnings: string[] } {
  let text: string
  let mode: number
  try {
    text = readFileSync(file, 'utf8')
    mode = statSync(file).mode
  } catch (e) {
    throw new Error(`${what} ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); expected a readable file of lines "${format}"`)
  }
  const parsed = parse(text)
  if (!parsed.ok) throw new Error(parsed.error.map((e) => `${file}${e.line > 0 ? `:${e.line}` : ''}: ${e.message}`).join('\n'))
  return { keys: parsed.value, warnings: (mode & 0o077) !== 0 ? [`key file ${file} is readable by group or others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`] : [] }
}
