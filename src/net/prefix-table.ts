/**
 * A compact hash table keyed by IPv4 prefix, for the million-entry tables
 * (BGP's Loc-RIB): open addressing with linear probing over typed-array
 * columns, no object per entry. A slot is 4 octets of address, 1 of length,
 * 4 of a caller's uint32 (a timestamp) and 8 of a value reference in a plain
 * array: 17 octets, at a load of 0.53-0.8 (the capacity grows by 1.5 when
 * 0.8 is passed), 21-32 octets an entry instead of a V8 Map entry's ~29 plus
 * the object it points at.
 *
 * Deletion shifts the following entries of the probe run back (no
 * tombstones), so lookups stay short after churn. Callers address entries by
 * slot index: an index is valid until the next insert (which may grow the
 * table) or delete (which may move entries); do not delete while walking
 * the slots, collect first.
 */
import type { Prefix } from './ipv4.js'

/** the length column's value of a free slot */
const FREE = 255
const MAX_LOAD = 0.8
const MIN_CAPACITY = 16
const TWO_32 = 4294967296

function hashOf(addr: number, len: number): number {
  let h = Math.imul(addr ^ Math.imul(len + 1, 0x9e3779b1), 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

export class PrefixTable<V> {
  private cap: number
  private addrs: Int32Array
  private lens: Uint8Array
  private stamps: Uint32Array
  private vals: (V | undefined)[]
  private count = 0
  private limit: number

  constructor(initialCapacity = MIN_CAPACITY) {
    this.cap = Math.max(MIN_CAPACITY, Math.ceil(initialCapacity))
    this.addrs = new Int32Array(this.cap)
    this.lens = new Uint8Array(this.cap).fill(FREE)
    this.stamps = new Uint32Array(this.cap)
    this.vals = new Array<V | undefined>(this.cap).fill(undefined)
    this.limit = Math.floor(this.cap * MAX_LOAD)
  }

  get size(): number {
    return this.count
  }

  /** number of slots: walk 0 .. capacity - 1 and skip the free ones (`used`) */
  get capacity(): number {
    return this.cap
  }

  private home(addr: number, len: number): number {
    const i = Math.floor((hashOf(addr, len) * this.cap) / TWO_32)
    return i < this.cap ? i : this.cap - 1
  }

  /** The slot of (addr, len), or -1. */
  find(addr: number, len: number): number {
    const a = addr | 0
    const lens = this.lens
    const addrs = this.addrs
    const cap = this.cap
    let i = this.home(a, len)
    for (;;) {
      const l = lens[i]!
      if (l === FREE) return -1
      if (l === len && addrs[i] === a) return i
      if (++i === cap) i = 0
    }
  }

  /** The slot of (addr, len), made (value undefined, stamp 0) when absent. */
  insert(addr: number, len: number): number {
    if (len < 0 || len > 32 || !Number.isInteger(len)) throw new RangeError(`prefix length ${len} out of range`)
    const a = addr | 0
    let i = this.home(a, len)
    for (;;) {
      const l = this.lens[i]!
      if (l === FREE) break
      if (l === len && this.addrs[i] === a) return i
      if (++i === this.cap) i = 0
    }
    if (this.count + 1 > this.limit) {
      this.grow()
      return this.insert(addr, len)
    }
    this.lens[i] = len
    this.addrs[i] = a
    this.stamps[i] = 0
    this.vals[i] = undefined
    this.count++
    return i
  }

  used(slot: number): boolean {
    return this.lens[slot] !== FREE
  }

  /** the address of the entry in a slot (uint32) */
  addrAt(slot: number): number {
    return this.addrs[slot]! >>> 0
  }

  lenAt(slot: number): number {
    return this.lens[slot]!
  }

  prefixAt(slot: number): Prefix {
    return { addr: this.addrs[slot]! >>> 0, len: this.lens[slot]! }
  }

  valueAt(slot: number): V | undefined {
    return this.vals[slot]
  }

  setValueAt(slot: number, v: V): void {
    this.vals[slot] = v
  }

  stampAt(slot: number): number {
    return this.stamps[slot]!
  }

  setStampAt(slot: number, stamp: number): void {
    this.stamps[slot] = stamp
  }

  /** Removes the entry in a slot; the entries after it in its probe run move back. */
  deleteAt(slot: number): void {
    if (this.lens[slot] === FREE) return
    const cap = this.cap
    let hole = slot
    let j = slot
    for (;;) {
      if (++j === cap) j = 0
      const l = this.lens[j]!
      if (l === FREE) break
      const h = this.home(this.addrs[j]!, l)
      // the entry at j may fill the hole when its home is not cyclically in (hole, j]
      const inRange = hole <= j ? h > hole && h <= j : h > hole || h <= j
      if (inRange) continue
      this.lens[hole] = l
      this.addrs[hole] = this.addrs[j]!
      this.stamps[hole] = this.stamps[j]!
      this.vals[hole] = this.vals[j]
      hole = j
    }
    this.lens[hole] = FREE
    this.vals[hole] = undefined
    this.count--
  }

  /** Removes (addr, len); whether it was there. */
  delete(addr: number, len: number): boolean {
    const s = this.find(addr, len)
    if (s < 0) return false
    this.deleteAt(s)
    return true
  }

  clear(): void {
    this.cap = MIN_CAPACITY
    this.addrs = new Int32Array(this.cap)
    this.lens = new Uint8Array(this.cap).fill(FREE)
    this.stamps = new Uint32Array(this.cap)
    this.vals = new Array<V | undefined>(this.cap).fill(undefined)
    this.limit = Math.floor(this.cap * MAX_LOAD)
    this.count = 0
  }

  private grow(): void {
    const { addrs, lens, stamps, vals, cap } = this
    this.cap = Math.ceil(cap * 1.5)
    this.addrs = new Int32Array(this.cap)
    this.lens = new Uint8Array(this.cap).fill(FREE)
    this.stamps = new Uint32Array(this.cap)
    this.vals = new Array<V | undefined>(this.cap).fill(undefined)
    this.limit = Math.floor(this.cap * MAX_LOAD)
    for (let s = 0; s < cap; s++) {
      const l = lens[s]!
      if (l === FREE) continue
      const a = addrs[s]!
      let i = this.home(a, l)
      while (this.lens[i] !== FREE) if (++i === this.cap) i = 0
      this.lens[i] = l
      this.addrs[i] = a
      this.stamps[i] = stamps[s]!
      this.vals[i] = vals[s]
    }
  }
}
