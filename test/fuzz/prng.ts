/**
 * Seeded PRNG for the wire fuzzer. Every generated input is a pure function
 * of (seed, stream, index): a finding names the seed and the index, and
 * `caseRng(seed, stream, index)` rebuilds the same bytes.
 */

/** mulberry32: small, fast, good enough for fuzzing; 32-bit state. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A 32-bit hash of the inputs (splitmix-like), to derive per-case seeds. */
export function mix(...parts: number[]): number {
  let h = 0x9e3779b9
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b)
    h ^= h >>> 13
    h = Math.imul(h, 0xc2b2ae35)
    h ^= h >>> 16
  }
  return h >>> 0
}

export class Rng {
  readonly next: () => number
  constructor(seed: number) {
    this.next = mulberry32(seed)
  }
  /** integer in [0, n) */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
  /** integer in [lo, hi] */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1)
  }
  chance(p: number): boolean {
    return this.next() < p
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n)
    for (let i = 0; i < n; i++) b[i] = this.int(256)
    return b
  }
  /** picks a key of `weights` with probability proportional to its weight */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as [K, number][]
    const total = entries.reduce((a, [, w]) => a + w, 0)
    let x = this.next() * total
    for (const [k, w] of entries) {
      x -= w
      if (x < 0) return k
    }
    return entries[entries.length - 1]![0]
  }
}

/** The generator of case `index` of `stream` in a run with `seed`. */
export function caseRng(seed: number, stream: number, index: number): Rng {
  return new Rng(mix(seed, stream, index))
}

/** Parses a seed given as decimal or 0x-hex. */
export function parseSeed(text: string): number {
  const n = text.startsWith('0x') ? Number.parseInt(text.slice(2), 16) : Number(text)
  if (!Number.isFinite(n) || n < 0 || n > 0xffffffff) throw new Error(`seed "${text}": expected an integer 0..4294967295 (or 0x...)`)
  return n >>> 0
}
