import test from 'ava'
import { PrefixMap, PrefixSet } from '../../../src/net/prefix-map.js'
import { formatPrefix } from '../../../src/net/ipv4.js'
import { P } from '../../helpers/net.js'


test('set/get/delete across lengths, including /0, /32 and high addresses', (t) => {
  const m = new PrefixMap<string>()
  const all = ['0.0.0.0/0', '10.0.0.0/8', '10.244.1.0/24', '10.244.1.0/25', '255.255.255.255/32', '200.1.2.0/24', '128.0.0.0/1', '10.244.1.7/32']
  for (const p of all) m.set(P(p), p)
  t.is(m.size, all.length)
  for (const p of all) t.is(m.get(P(p)), p)
  t.is(m.get(P('10.244.2.0/24')), undefined)
  m.set(P('10.244.1.0/24'), 'again')
  t.is(m.size, all.length, 'replacing does not grow')
  t.true(m.delete(P('10.244.1.0/25')))
  t.false(m.delete(P('10.244.1.0/25')))
  t.is(m.size, all.length - 1)
  t.deepEqual([...m.entries()].map(([p]) => formatPrefix(p)).sort(), all.filter((p) => p !== '10.244.1.0/25').sort(), 'entries rebuild the prefixes exactly')
  m.clear()
  t.is(m.size, 0)
  t.deepEqual([...m.values()], [])
})

test('forEach visits what entries() lists, in the same order', (t) => {
  const m = new PrefixMap<number>()
  const all = ['10.244.1.0/24', '0.0.0.0/0', '255.255.255.255/32', '200.1.2.0/24', '128.0.0.0/1', '10.244.1.0/25', '10.244.3.0/24']
  for (const [i, p] of all.entries()) m.set(P(p), i)
  const seen: string[] = []
  m.forEach((p, v) => {
    seen.push(`${formatPrefix(p)}=${v}`)
  })
  t.deepEqual(seen, [...m.entries()].map(([p, v]) => `${formatPrefix(p)}=${v}`))
  t.is(seen.length, all.length)
})

test('PrefixSet', (t) => {
  const s = new PrefixSet()
  s.add(P('10.1.0.0/16'))
  s.add(P('10.1.0.0/16'))
  s.add(P('192.168.0.0/24'))
  t.is(s.size, 2)
  t.true(s.has(P('10.1.0.0/16')))
  t.deepEqual([...s].map(formatPrefix).sort(), ['10.1.0.0/16', '192.168.0.0/24'])
})
