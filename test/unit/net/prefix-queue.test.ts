import test from 'ava'
import { formatPrefix } from '../../../src/net/ipv4.js'
import { PrefixBitSet, PrefixQueue } from '../../../src/net/prefix-queue.js'
import { P } from '../../helpers/net.js'


test('FIFO without duplicates, across bitmap and long prefixes', (t) => {
  const q = new PrefixQueue()
  for (const p of ['10.244.1.0/24', '10.0.0.0/8', '10.244.1.7/32', '0.0.0.0/0', '10.244.1.0/24', '255.255.255.0/24', '10.244.1.7/32']) q.add(P(p))
  t.is(q.size, 5)
  t.true(q.has(P('10.244.1.0/24')))
  t.false(q.has(P('10.244.2.0/24')))
  t.deepEqual([...q].map(formatPrefix), ['10.244.1.0/24', '10.0.0.0/8', '10.244.1.7/32', '0.0.0.0/0', '255.255.255.0/24'])
  t.deepEqual(q.take(2).map(formatPrefix), ['10.244.1.0/24', '10.0.0.0/8'])
  t.false(q.has(P('10.244.1.0/24')), 'taken prefixes leave the set')
  t.true(q.delete(P('10.244.1.7/32')))
  t.false(q.delete(P('10.244.1.7/32')))
  t.deepEqual(q.take(10).map(formatPrefix), ['0.0.0.0/0', '255.255.255.0/24'], 'a deleted prefix is skipped')
  t.is(q.size, 0)
  q.add(P('10.244.1.0/24'))
  t.deepEqual(q.take(10).map(formatPrefix), ['10.244.1.0/24'], 'can be queued again after being taken')
})

test('a million /24s: order kept, memory is the bitmap plus references', (t) => {
  const q = new PrefixQueue()
  const n = 1_000_000
  for (let i = 0; i < n; i++) q.add({ addr: (0x0b000000 + i * 256) >>> 0, len: 24 })
  for (let i = 0; i < n; i += 3) q.add({ addr: (0x0b000000 + i * 256) >>> 0, len: 24 }) // duplicates ignored
  t.is(q.size, n)
  let seen = 0
  for (let batch = q.take(8192); batch.length; batch = q.take(8192)) {
    for (const p of batch) {
      if (p.addr !== ((0x0b000000 + seen * 256) >>> 0)) return t.fail(`out of order at ${seen}`)
      seen++
    }
  }
  t.is(seen, n)
  t.is(q.size, 0)
})

test('a small PrefixBitSet allocates no bitmaps (FIB sync makes two per full reconcile; an idle agent reconciles every 5 s)', (t) => {
  const before = process.memoryUsage().arrayBuffers
  const sets = [0, 1, 2, 3].map(() => {
    const s = new PrefixBitSet()
    for (const p of ['10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24', '10.0.0.0/8']) s.add(P(p))
    return s
  })
  const grown = process.memoryUsage().arrayBuffers - before
  t.true(grown < 1 << 20, `4 sets of 4 prefixes: ${grown} bytes of ArrayBuffers (a /24 bitmap is 2 MiB)`)
  t.true(sets.every((s) => s.size === 4 && s.has(P('10.244.2.0/24')) && !s.has(P('10.244.4.0/24'))))
})

test('PrefixBitSet agrees with a Set of strings below, across and above the switch to bitmaps', (t) => {
  const s = new PrefixBitSet()
  const ref = new Set<string>()
  let seed = 7
  const rnd = (n: number): number => {
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    return (seed >>> 0) % n
  }
  const lens = [0, 8, 16, 20, 24, 24, 24, 24, 25, 32]
  for (let i = 0; i < 20_000; i++) {
    const len = lens[rnd(lens.length)]!
    const addr = len === 0 ? 0 : ((0x0a000000 + rnd(1 << 14) * 256 + rnd(256)) >>> (32 - len) << (32 - len)) >>> 0
    const p = { addr, len }
    const k = formatPrefix(p)
    if (rnd(4) === 0) t.is(s.delete(p), ref.delete(k), `delete ${k}`)
    else {
      t.is(s.add(p), !ref.has(k), `add ${k}`)
      ref.add(k)
    }
    if (i % 997 === 0) {
      t.is(s.size, ref.size)
      for (const x of ref) if (!s.has(P(x))) return t.fail(`lost ${x} at ${i}`)
    }
  }
  t.is(s.size, ref.size)
  t.true(ref.size > 4096, `${ref.size} prefixes: past the switch`)
})
