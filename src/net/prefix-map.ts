/**
 * A map keyed by IPv4 prefix, built for million-entry tables: one Map per
 * prefix length, keyed by the network bits (`addr >>> (32 - len)`), which
 * stay below 2^31 for every length up to /31 and so are small integers to
 * V8 (no boxed number per key, fast hashing). Iteration order: by length,
 * then insertion.
 */
import type { Prefix } from './ipv4.js'

function bitsOf(p: Prefix): number {
  return p.len === 0 ? 0 : p.len === 32 ? p.addr : p.addr >>> (32 - p.len)
}

export class PrefixMap<V> {
  private readonly byLen: (Map<number, V> | undefined)[] = new Array(33)
  private count = 0

  get size(): number {
    return this.count
  }

  get(p: Prefix): V | undefined {
    return this.byLen[p.len]?.get(bitsOf(p))
  }

  has(p: Prefix): boolean {
    return this.byLen[p.len]?.has(bitsOf(p)) ?? false
  }

  set(p: Prefix, v: V): void {
    let m = this.byLen[p.len]
    if (m === undefined) {
      m = new Map()
      this.byLen[p.len] = m
    }
    const k = bitsOf(p)
    if (!m.has(k)) this.count++
    m.set(k, v)
  }

  delete(p: Prefix): boolean {
    const m = this.byLen[p.len]
    if (m === undefined || !m.delete(bitsOf(p))) return false
    this.count--
    return true
  }

  clear(): void {
    this.byLen.fill(undefined)
    this.count = 0
  }

  *values(): Generator<V> {
    for (const m of this.byLen) if (m) yield* m.values()
  }

  /** Calls fn for every entry, in iteration order, with the prefix rebuilt from the key (no generator, no pair per entry). */
  forEach(fn: (prefix: Prefix, value: V) => void): void {
    for (let len = 0; len <= 32; len++) {
      const m = this.byLen[len]
      if (!m) continue
      for (const [k, v] of m) fn({ addr: len === 0 ? 0 : len === 32 ? k >>> 0 : (k << (32 - len)) >>> 0, len }, v)
    }
  }

  /** [prefix, value] pairs; the prefix is rebuilt from the key. */
  *entries(): Generator<[Prefix, V]> {
    for (let len = 0; len <= 32; len++) {
      const m = this.byLen[len]
      if (!m) continue
      for (const [k, v] of m) yield [{ addr: len === 0 ? 0 : len === 32 ? k >>> 0 : (k << (32 - len)) >>> 0, len }, v]
    }
  }
}

/** A set of prefixes on the same layout. */
export class PrefixSet {
  private readonly map = new PrefixMap<true>()
  get size(): number {
    return this.map.size
  }
  add(p: Prefix): void {
    this.map.set(p, true)
  }
  has(p: Prefix): boolean {
    return this.map.has(p)
  }
  delete(p: Prefix): boolean {
    return this.map.delete(p)
  }
  clear(): void {
    this.map.clear()
  }
  *[Symbol.iterator](): Generator<Prefix> {
    for (const [p] of this.map.entries()) yield p
  }
}
