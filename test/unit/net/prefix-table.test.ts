import test from 'ava'
import { formatPrefix } from '../../../src/net/ipv4.js'
import { PrefixTable } from '../../../src/net/prefix-table.js'
import { P } from '../../helpers/net.js'

/** every (prefix text -> value) of a table, by walking its slots */
function contents(t: PrefixTable<string>): Map<string, string> {
  const out = new Map<string, string>()
  for (let s = 0; s < t.capacity; s++) if (t.used(s)) out.set(formatPrefix(t.prefixAt(s)), t.valueAt(s)!)
  return out
}

test('insert/find/delete across lengths: /0, /32, the same address at several lengths, addresses >= 128.0.0.0', (t) => {
  const table = new PrefixTable<string>()
  const all = ['0.0.0.0/0', '10.0.0.0/8', '10.0.0.0/16', '10.0.0.0/24', '10.244.1.7/32', '255.255.255.255/32', '128.0.0.0/1', '200.1.2.0/24', '224.0.0.0/4']
  for (const text of all) {
    const p = P(text)
    const slot = table.insert(p.addr, p.len)
    table.setValueAt(slot, text)
    table.setStampAt(slot, 4_000_000_000) // a uint32 above 2^31 survives
  }
  t.is(table.size, all.length)
  for (const text of all) {
    const p = P(text)
    const slot = table.find(p.addr, p.len)
    t.true(slot >= 0, text)
    t.is(table.valueAt(slot), text)
    t.is(table.addrAt(slot), p.addr, `${text}: the address comes back as a uint32`)
    t.is(table.lenAt(slot), p.len)
    t.is(table.stampAt(slot), 4_000_000_000)
  }
  t.is(table.find(P('10.0.0.0/9').addr, 9), -1, 'same address, other length: absent')
  t.is(table.find(P('11.0.0.0/8').addr, 8), -1)
  const again = table.insert(P('10.0.0.0/16').addr, 16)
  t.is(table.valueAt(again), '10.0.0.0/16', 'insert of a present prefix returns its slot, value kept')
  t.is(table.size, all.length)
  t.true(table.delete(P('255.255.255.255/32').addr, 32))
  t.false(table.delete(P('255.255.255.255/32').addr, 32))
  t.true(table.delete(0, 0))
  t.is(table.size, all.length - 2)
  t.deepEqual([...contents(table).keys()].sort(), all.filter((x) => x !== '255.255.255.255/32' && x !== '0.0.0.0/0').sort())
})

test('a length outside 0-32 is refused', (t) => {
  const table = new PrefixTable<string>()
  t.throws(() => table.insert(0, 33), { instanceOf: RangeError })
  t.throws(() => table.insert(0, -1), { instanceOf: RangeError })
  t.is(table.size, 0)
})

/** a deterministic pseudo-random sequence (xorshift32) */
function rng(seed: number): () => number {
  let x = seed
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return x >>> 0
  }
}

test('grows from 16 slots to 100,000 entries and against a Map after random inserts and deletes (collisions, backward shifts)', (t) => {
  const table = new PrefixTable<string>()
  const model = new Map<string, string>()
  const next = rng(12345)
  const keys: [number, number][] = []
  for (let i = 0; i < 100_000; i++) {
    const len = next() % 33
    const addr = len === 0 ? 0 : ((next() >>> (32 - len)) << (32 - len)) >>> 0
    keys.push([addr, len])
    const k = `${addr}/${len}`
    const slot = table.insert(addr, len)
    table.setValueAt(slot, k)
    model.set(k, k)
  }
  t.is(table.size, model.size)
  t.true(table.capacity >= table.size / 0.8, 'load stays at or below 0.8')
  t.true(table.capacity < (table.size / 0.8) * 1.5 + 16, 'and the table is not oversized')
  // delete a random half, then re-insert a quarter of those
  for (let i = 0; i < keys.length; i += 2) {
    const [addr, len] = keys[(next() % keys.length)]!
    const k = `${addr}/${len}`
    t.is(table.delete(addr, len), model.delete(k), `delete ${k}`)
  }
  for (let i = 0; i < keys.length; i += 4) {
    const [addr, len] = keys[i]!
    const k = `${addr}/${len}`
    table.setValueAt(table.insert(addr, len), k)
    model.set(k, k)
  }
  t.is(table.size, model.size)
  let found = 0
  let wrong = 0
  const seen = new Set<string>()
  for (const [addr, len] of keys) {
    const k = `${addr}/${len}`
    if (seen.has(k)) continue
    seen.add(k)
    const slot = table.find(addr, len)
    if (model.has(k)) {
      if (slot >= 0 && table.valueAt(slot) === k) found++
      else wrong++
    } else if (slot >= 0) wrong++
  }
  t.is(wrong, 0, 'every lookup agrees with the Map')
  t.is(found, model.size)
  // walking the slots yields each entry once
  let walked = 0
  for (let s = 0; s < table.capacity; s++) if (table.used(s)) walked++
  t.is(walked, model.size)
})

test('colliding keys: deleting the head of a probe run keeps the others findable (also across the end of the slots)', (t) => {
  // many keys in a tiny table: long runs, wrap-around at the end
  const table = new PrefixTable<string>()
  const prefixes: [number, number][] = []
  for (let i = 0; i < 12; i++) prefixes.push([(0x80000000 + i * 256) >>> 0, 24])
  for (const [a, l] of prefixes) table.setValueAt(table.insert(a, l), String(a))
  t.is(table.capacity, 16, 'no grow yet at 12 of 16')
  for (let round = 0; round < prefixes.length; round++) {
    const [a, l] = prefixes[round]!
    t.true(table.delete(a, l))
    for (let j = round + 1; j < prefixes.length; j++) {
      const [b, m] = prefixes[j]!
      const s = table.find(b, m)
      t.true(s >= 0 && table.valueAt(s) === String(b), `after deleting ${round}, ${j} is found`)
    }
  }
  t.is(table.size, 0)
})

test('clear empties the table and it can be filled again', (t) => {
  const table = new PrefixTable<string>()
  for (let i = 0; i < 1000; i++) table.insert(i << 8, 24)
  table.clear()
  t.is(table.size, 0)
  t.is(table.find(5 << 8, 24), -1)
  table.setValueAt(table.insert(5 << 8, 24), 'x')
  t.is(table.valueAt(table.find(5 << 8, 24)), 'x')
})
