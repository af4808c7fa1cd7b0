import test from 'ava'
import { formatPrefix } from '../../../src/net/ipv4.js'
import { PrefixQueue } from '../../../src/net/prefix-queue.js'
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
