/** Typed value parsers shared by the config sections; each returns a value or what was expected. */
import { type Prefix, parseAddress, parsePrefix } from '../net/ipv4.js'
import { quoted } from '../util/text.js'

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string }

export function intIn(text: string, min: number, max: number, what: string): Parsed<number> {
  if (!/^\d+$/.test(text.trim())) return { ok: false, error: `${what}: an integer from ${min} to ${max}` }
  const n = Number(text.trim())
  if (n < min || n > max) return { ok: false, error: `${what}: an integer from ${min} to ${max}` }
  return { ok: true, value: n }
}

export function seconds(text: string, min: number, max: number): Parsed<number> {
  const t = text.trim().replace(/s$/, '')
  if (!/^\d+(\.\d+)?$/.test(t)) return { ok: false, error: `seconds from ${min} to ${max}` }
  const n = Number(t)
  if (n < min || n > max) return { ok: false, error: `seconds from ${min} to ${max}` }
  return { ok: true, value: n }
}

export function bool(text: string): Parsed<boolean> {
  const t = text.trim().toLowerCase()
  if (['yes', 'true', 'on', '1'].includes(t)) return { ok: true, value: true }
  if (['no', 'false', 'off', '0'].includes(t)) return { ok: true, value: false }
  return { ok: false, error: 'yes or no' }
}

/** An AS number: 1..4294967295, also as asdot (1.10). */
export function asn(text: string): Parsed<number> {
  const t = text.trim()
  const dot = /^(\d+)\.(\d+)$/.exec(t)
  let n: number
  if (dot) n = Number(dot[1]) * 65536 + Number(dot[2])
  else if (/^\d+$/.test(t)) n = Number(t)
  else return { ok: false, error: 'an AS number (1-4294967295, or asdot like 1.10)' }
  if (!(n >= 1 && n <= 4294967295) || (dot && (Number(dot[1]) > 65535 || Number(dot[2]) > 65535))) return { ok: false, error: 'an AS number (1-4294967295, or asdot like 1.10)' }
  if (n === 23456) return { ok: false, error: 'an AS number other than 23456 (AS_TRANS is reserved)' }
  return { ok: true, value: n }
}

/** A router id / cluster id: dotted quad, non-zero. */
export function routerId(text: string): Parsed<number> {
  const a = parseAddress(text)
  if (!a.ok) return { ok: false, error: `a router id in dotted-quad form (${a.error})` }
  if (a.value === 0) return { ok: false, error: 'a non-zero router id' }
  return a
}

export function address(text: string): Parsed<number> {
  return parseAddress(text)
}

export function prefix(text: string): Parsed<Prefix> {
  return parsePrefix(text)
}

/** A comma/space separated list, each item parsed. */
export function list<T>(text: string, item: (s: string) => Parsed<T>): Parsed<T[]> {
  const out: T[] = []
  for (const part of text.split(/[,\s]+/).filter(Boolean)) {
    const r = item(part)
    if (!r.ok) return { ok: false, error: `${quoted(part)}: ${r.error}` }
    out.push(r.value)
  }
  return { ok: true, value: out }
}

/** `ADDRESS[@ASN]`, the --peer flag form. */
export function peerSpec(text: string): Parsed<{ address: number; asn?: number }> {
  const [a, n, ...rest] = text.trim().split('@')
  if (rest.length > 0 || a === undefined) return { ok: false, error: 'ADDRESS or ADDRESS@ASN' }
  const addr = parseAddress(a)
  if (!addr.ok) return { ok: false, error: `ADDRESS or ADDRESS@ASN (${addr.error})` }
  if (n === undefined) return { ok: true, value: { address: addr.value } }
  const as = asn(n)
  if (!as.ok) return { ok: false, error: `ADDRESS@ASN (${as.error})` }
  return { ok: true, value: { address: addr.value, asn: as.value } }
}
