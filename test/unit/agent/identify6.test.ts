/** This host's IPv6 parts: the underlay address (chooseAddress6, pure) and the automatic subnet6 (host/ipam6.ts). */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { chooseAddress6 } from '../../../src/api/host-identity.js'
import { IPAM6_FILE, allocateSubnet6, persistedSubnet6, pickSubnet6, slotSubnet6 } from '../../../src/host/ipam6.js'
import { type Prefix6, formatPrefix6, parsePrefix6 } from '../../../src/net/ipv6.js'

const P6 = (text: string): Prefix6 => {
  const p = parsePrefix6(text)
  if (!p.ok) throw new Error(p.error)
  return p.value
}
const a6 = (index: number, address: string, prefixLen = 64, flags = 0) => ({ index, address, prefixLen, scope: address.startsWith('fe80') ? 253 : 0, flags })

test('address6: the one global address of the underlay interface, with its connected prefix', (t) => {
  const addrs = [a6(2, 'fe80::1'), a6(2, 'fd00:99::1'), a6(3, '2001:db8::5'), a6(1, '::1', 128)]
  const c = chooseAddress6(addrs, 2, 'eth0')
  t.deepEqual(c, { ok: true, address6: 'fd00:99::1', underlay6: P6('fd00:99::/64') })
  const g = chooseAddress6([a6(2, '2001:db8:1:2::abcd', 56)], 2, 'eth0')
  t.deepEqual(g, { ok: true, address6: '2001:db8:1:2::abcd', underlay6: P6('2001:db8:1::/56') })
})

test('address6 given (--address6 / [host.*] address6): used when on the underlay interface, refused elsewhere', (t) => {
  const addrs = [a6(2, 'fd00:99::1'), a6(2, 'fd00:99::100'), a6(3, '2001:db8::5')]
  t.deepEqual(chooseAddress6(addrs, 2, 'eth0', { address6: 'fd00:99::100', from: '--address6' }), { ok: true, address6: 'fd00:99::100', underlay6: P6('fd00:99::/64') })
  const e = chooseAddress6(addrs, 2, 'eth0', { address6: '2001:db8::5', from: '[host.a] address6' })
  t.false(e.ok)
  if (!e.ok) t.regex(e.error, /^\[host\.a\] address6 2001:db8::5 is not assigned to the underlay interface eth0 \(it is on interface index 3\); eth0 has fd00:99::1\/64, fd00:99::100\/64$/)
  const none = chooseAddress6(addrs, 2, 'eth0', { address6: 'fd00:99::7', from: '--address6' })
  t.false(none.ok)
})

test('address6 refused: none (link-local only), several, DAD failed, a /128 without on-link prefix', (t) => {
  const none = chooseAddress6([a6(2, 'fe80::1'), a6(3, 'fd00:1::1')], 2, 'eth0')
  t.false(none.ok)
  if (!none.ok) t.regex(none.error, /eth0 has no global IPv6 address .*pass --address6/)
  const several = chooseAddress6([a6(2, 'fd00:99::1'), a6(2, '2001:db8::1')], 2, 'eth0')
  t.false(several.ok)
  if (!several.ok) t.regex(several.error, /several global IPv6 addresses \(fd00:99::1\/64, 2001:db8::1\/64\); say which one .*--address6/)
  t.false(chooseAddress6([a6(2, 'fd00:99::1', 64, 0x08)], 2, 'eth0').ok, 'DAD failed')
  const host = chooseAddress6([a6(2, 'fd00:99::1', 128)], 2, 'eth0')
  t.false(host.ok)
  if (!host.ok) t.regex(host.error, /fd00:99::1\/128 on eth0 has no on-link prefix/)
})

const pool6 = P6('fd00:fab::/48')

test('subnet6: the IPv4 subnet slot first (10.244.3.0/24 -> fd00:fab:0:3::/64), else hashed, stable, free of taken ones', (t) => {
  const pref = pickSubnet6({ pool6, hostPrefix6: 64, taken: [], identity: 'm/10.0.0.3', preferredSlot: 3 })
  t.deepEqual(pref, { ok: true, subnet: P6('fd00:fab:0:3::/64'), reason: 'preferred' })
  const hashed = pickSubnet6({ pool6, hostPrefix6: 64, taken: [P6('fd00:fab:0:3::/64')], identity: 'm/10.0.0.3', preferredSlot: 3 })
  const again = pickSubnet6({ pool6, hostPrefix6: 64, taken: [P6('fd00:fab:0:3::/64')], identity: 'm/10.0.0.3', preferredSlot: 3 })
  t.true(hashed.ok && again.ok)
  if (!hashed.ok || !again.ok) return
  t.is(hashed.reason, 'hashed')
  t.deepEqual(hashed.subnet, again.subnet)
  t.is(hashed.subnet.len, 64)
  t.true(hashed.subnet.addr.startsWith('fd00:fab:'))
  // the hashed slot taken: the next one
  const probed = pickSubnet6({ pool6, hostPrefix6: 64, taken: [P6('fd00:fab:0:3::/64'), hashed.subnet], identity: 'm/10.0.0.3', preferredSlot: 3 })
  t.true(probed.ok && probed.reason === 'probed' && formatPrefix6(probed.subnet) !== formatPrefix6(hashed.subnet))
  // spread over the pool
  const seen = new Set<string>()
  for (let i = 0; i < 50; i++) {
    const r = pickSubnet6({ pool6, hostPrefix6: 64, taken: [], identity: `m/10.99.0.${i}` })
    if (r.ok) seen.add(formatPrefix6(r.subnet))
  }
  t.true(seen.size > 45)
  // a slot beyond the pool's count is not preferred
  const small = pickSubnet6({ pool6: P6('fd00:fab::/62'), hostPrefix6: 64, taken: [], identity: 'x', preferredSlot: 9 })
  t.true(small.ok && small.reason === 'hashed')
})

test('subnet6: slot arithmetic over 128 bits, and a full pool refused', (t) => {
  t.deepEqual(slotSubnet6(P6('fd00:fab::/48'), 64, 0xffffn), P6('fd00:fab:0:ffff::/64'))
  t.deepEqual(slotSubnet6(P6('2001:db8::/32'), 120, 5n), P6('2001:db8::500/120'))
  const full = pickSubnet6({ pool6: P6('fd00:fab::/63'), hostPrefix6: 64, taken: [P6('fd00:fab::/64'), P6('fd00:fab:0:1::/64')], identity: 'x' })
  t.false(full.ok)
  if (!full.ok) t.regex(full.error, /no free \/64 found in pool6 fd00:fab::\/63 \(2 subnets in use\)/)
})

test('subnet6: persisted in ipam6.json and kept across restarts while free; moved when taken', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fabric-ipam6-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const first = allocateSubnet6({ pool6, hostPrefix6: 64, taken: [], identity: 'm/10.0.0.1', stateDir: dir })
  t.true(first.ok)
  if (!first.ok) return
  t.is(JSON.parse(readFileSync(join(dir, IPAM6_FILE), 'utf8')).subnet6, formatPrefix6(first.subnet))
  t.deepEqual(persistedSubnet6(dir), first.subnet)
  const again = allocateSubnet6({ pool6, hostPrefix6: 64, taken: [], identity: 'another/10.0.0.9', preferredSlot: 7, stateDir: dir })
  t.true(again.ok && again.reason === 'previous' && formatPrefix6(again.subnet) === formatPrefix6(first.subnet))
  const moved = allocateSubnet6({ pool6, hostPrefix6: 64, taken: [first.subnet], identity: 'm/10.0.0.1', preferredSlot: 7, stateDir: dir })
  t.true(moved.ok && moved.reason === 'preferred')
  if (moved.ok) t.deepEqual(persistedSubnet6(dir), P6('fd00:fab:0:7::/64'))
})
