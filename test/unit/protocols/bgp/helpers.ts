import { parseAddress, parsePrefix, type Prefix } from '../../../../src/net/ipv4.js'

/** Hex with spaces/newlines allowed. */
export function hex(s: string): Buffer {
  const clean = s.replace(/\s+/g, '')
  if (!/^([0-9a-fA-F]{2})*$/.test(clean)) throw new Error(`bad hex: ${s}`)
  return Buffer.from(clean, 'hex')
}

/** A whole BGP message: all-ones marker, length, type, body. */
export function msg(type: number, body: string | Buffer): Buffer {
  const b = typeof body === 'string' ? hex(body) : body
  const head = Buffer.alloc(19, 0xff)
  head.writeUInt16BE(19 + b.length, 16)
  head[18] = type
  return Buffer.concat([head, b])
}

export function p(text: string): Prefix {
  const r = parsePrefix(text)
  if (!r.ok) throw new Error(r.error)
  return r.value
}

export function ip(text: string): number {
  const r = parseAddress(text)
  if (!r.ok) throw new Error(r.error)
  return r.value
}

/** Small deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
