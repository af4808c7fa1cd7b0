/**
 * A FIFO set of prefixes for work queues that can hold a whole table (FIB
 * sync's dirty prefixes during a million-route ingest). Membership of
 * prefixes up to /24 is a bitmap per length (2^len bits: 4 MiB for all of
 * them together, allocated on first use), longer ones a PrefixSet; the queue
 * itself is two columns (address, length: 5 bytes a prefix), so a queued
 * prefix keeps no object alive. A removed prefix stays in the queue until it
 * is reached and skipped.
 */
import type { Prefix } from './ipv4.js'
import { PrefixSet } from './prefix-map.js'

const BITMAP_MAX_LEN = 24

/** prefixes up to /24 a PrefixBitSet keeps in a PrefixSet before it switches to bitmaps */
const SMALL_MAX = 4096

/**
 * A set of prefixes: a bitmap per length up to /24 (2^len bits, allocated on
 * first use: 2 MiB for /24s whatever their number), a PrefixSet above. A
 * set that never holds more than SMALL_MAX prefixes up to /24 keeps them in
 * a PrefixSet too: FIB sync makes two of these per full reconcile, and an
 * idle agent with a handful of routes should not allocate (and collect)
 * 4 MiB of bitmaps every reconcile interval.
 */
export class PrefixBitSet {
  private bits: (Uint8Array | undefined)[] | undefined
  private readonly small = new PrefixSet()
  private readonly long = new PrefixSet()
  private count = 0

  get size(): number {
    return this.count
  }

  has(p: Prefix): boolean {
    if (p.len > BITMAP_MAX_LEN) return this.long.has(p)
    if (this.bits === undefined) return this.small.has(p)
    const b = this.bits[p.len]
    if (b === undefined) return false
    const i = p.len === 0 ? 0 : p.addr >>> (32 - p.len)
    return (b[i >>> 3]! & (1 << (i & 7))) !== 0
  }

  /** Adds; returns false when it was there already. */
  add(p: Prefix): boolean {
    if (p.len > BITMAP_MAX_LEN) {
      if (this.long.has(p)) return false
      this.long.add(p)
    } else if (this.bits === undefined) {
      if (this.small.has(p)) return false
      this.small.add(p)
      if (this.small.size > SMALL_MAX) this.toBitmaps()
    } else if (!this.setBit(this.bits, p)) {
      return false
    }
    this.count++
    return true
  }

  delete(p: Prefix): boolean {
    if (!this.has(p)) return false
    if (p.len > BITMAP_MAX_LEN) this.long.delete(p)
    else if (this.bits === undefined) this.small.delete(p)
    else {
      const i = p.len === 0 ? 0 : p.addr >>> (32 - p.len)
      this.bits[p.len]![i >>> 3]! &= ~(1 << (i & 7))
    }
    this.count--
    return true
  }

  private toBitmaps(): void {
    const bits: (Uint8Array | undefined)[] = new Array(BITMAP_MAX_LEN + 1)
    for (const p of this.small) this.setBit(bits, p)
    this.small.clear()
    this.bits = bits
  }

  /** sets p's bit; false when it was set */
  private setBit(bits: (Uint8Array | undefined)[], p: Prefix): boolean {
    let b = bits[p.len]
    if (b === undefined) {
      b = new Uint8Array(Math.max(1, (2 ** p.len) >>> 3))
      bits[p.len] = b
    }
    const i = p.len === 0 ? 0 : p.addr >>> (32 - p.len)
    const m = 1 << (i & 7)
    if (b[i >>> 3]! & m) return false
    b[i >>> 3]! |= m
    return true
  }
}

export class PrefixQueue {
  /** the queue as columns (address, length) from head to tail: no object kept per queued prefix */
  private addrs = new Uint32Array(16)
  private lens = new Uint8Array(16)
  private head = 0
  private tail = 0
  private readonly members = new PrefixBitSet()

  get size(): number {
    return this.members.size
  }

  has(p: Prefix): boolean {
    return this.members.has(p)
  }

  /** Adds a prefix (no-op when queued already). */
  add(p: Prefix): void {
    if (!this.members.add(p)) return
    if (this.tail === this.addrs.length) this.makeRoom()
    this.addrs[this.tail] = p.addr
    this.lens[this.tail] = p.len
    this.tail++
  }

  /** at the end of the columns: drop the taken part, or double them when more than half is queued */
  private makeRoom(): void {
    const queued = this.tail - this.head
    const cap = queued * 2 > this.addrs.length ? this.addrs.length * 2 : this.addrs.length
    if (cap === this.addrs.length) {
      this.addrs.copyWithin(0, this.head, this.tail)
      this.lens.copyWithin(0, this.head, this.tail)
    } else {
      const addrs = new Uint32Array(cap)
      const lens = new Uint8Array(cap)
      addrs.set(this.addrs.subarray(this.head, this.tail))
      lens.set(this.lens.subarray(this.head, this.tail))
      this.addrs = addrs
      this.lens = lens
    }
    this.head = 0
    this.tail = queued
  }

  delete(p: Prefix): boolean {
    return this.members.delete(p)
  }

  /** Removes and returns up to n queued prefixes, oldest first (new objects). */
  take(n: number): Prefix[] {
    const out: Prefix[] = []
    while (out.length < n && this.head < this.tail) {
      const p = { addr: this.addrs[this.head]!, len: this.lens[this.head]! }
      this.head++
      if (!this.members.delete(p)) continue // deleted while queued
      out.push(p)
    }
    if (this.head === this.tail) {
      this.head = 0
      this.tail = 0
      // an emptied queue gives back big columns
      if (this.addrs.length > 65536) {
        this.addrs = new Uint32Array(16)
        this.lens = new Uint8Array(16)
      }
    }
    return out
  }

  /** The queued prefixes, oldest first (not removed; new objects). */
  *[Symbol.iterator](): Generator<Prefix> {
    for (let i = this.head; i < this.tail; i++) {
      const p = { addr: this.addrs[i]!, len: this.lens[i]! }
      if (this.members.has(p)) yield p
    }
  }
}
