import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { IPAM_FILE, allocateSubnet, hashSlot, hostIdentity, pickSubnet } from '../../../src/host/ipam.js'
import { formatPrefix, parseAddress } from '../../../src/net/ipv4.js'
import { P } from '../../helpers/net.js'

const pool = P('10.244.0.0/16')

test('the choice is stable for an identity and inside the pool with the host prefix', (t) => {
  const a = pickSubnet({ pool, hostPrefix: 24, taken: [], identity: 'machine-a/10.0.0.1' })
  const b = pickSubnet({ pool, hostPrefix: 24, taken: [], identity: 'machine-a/10.0.0.1' })
  t.true(a.ok && b.ok)
  if (!a.ok || !b.ok) return
  t.is(formatPrefix(a.subnet), formatPrefix(b.subnet))
  t.is(a.subnet.len, 24)
  t.is(a.subnet.addr >>> 16, pool.addr >>> 16)
  t.is(a.reason, 'hashed')
})

test('different identities spread over the pool', (t) => {
  const seen = new Set<string>()
  for (let i = 0; i < 50; i++) {
    const r = pickSubnet({ pool, hostPrefix: 24, taken: [], identity: `m/10.99.0.${i}` })
    if (r.ok) seen.add(formatPrefix(r.subnet))
  }
  t.true(seen.size > 40, `${seen.size} distinct of 50`)
})

test('taken subnets are skipped (next free slot, wrapping), overlapping ones too', (t) => {
  const identity = 'x/1.2.3.4'
  const first = pickSubnet({ pool, hostPrefix: 24, taken: [], identity })
  if (!first.ok) return t.fail()
  const second = pickSubnet({ pool, hostPrefix: 24, taken: [first.subnet], identity })
  if (!second.ok) return t.fail()
  t.not(formatPrefix(second.subnet), formatPrefix(first.subnet))
  t.is(second.reason, 'probed')
  // a /23 taken that covers the hashed /24
  const wide = { addr: first.subnet.addr & 0xfffffe00, len: 23 }
  const third = pickSubnet({ pool, hostPrefix: 24, taken: [wide], identity })
  t.true(third.ok && (third.subnet.addr & 0xfffffe00) !== wide.addr)
})

test('a full pool is an error naming the pool', (t) => {
  const small = P('10.9.0.0/30')
  const r = pickSubnet({ pool: P('10.9.0.0/29'), hostPrefix: 30, taken: [small, P('10.9.0.4/30')], identity: 'a' })
  t.false(r.ok)
  if (!r.ok) t.regex(r.error, /no free \/30 left in the pool 10\.9\.0\.0\/29/)
  t.false(pickSubnet({ pool, hostPrefix: 12, taken: [], identity: 'a' }).ok)
})

test('the previous choice is kept while valid and free, else a new one is made', (t) => {
  const previous = P('10.244.77.0/24')
  const kept = pickSubnet({ pool, hostPrefix: 24, taken: [P('10.244.1.0/24')], identity: 'z', previous })
  t.true(kept.ok && kept.reason === 'previous' && formatPrefix(kept.subnet) === '10.244.77.0/24')
  const takenNow = pickSubnet({ pool, hostPrefix: 24, taken: [previous], identity: 'z', previous })
  t.true(takenNow.ok && takenNow.reason !== 'previous')
  const otherLen = pickSubnet({ pool, hostPrefix: 25, taken: [], identity: 'z', previous })
  t.true(otherLen.ok && otherLen.subnet.len === 25)
})

test('allocation is persisted in the state dir and survives restarts, even when the identity changes', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fabric-ipam-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const address = (parseAddress('10.99.0.11') as { value: number }).value
  const a = allocateSubnet({ pool, hostPrefix: 24, taken: [], address, stateDir: dir, identity: 'one' })
  if (!a.ok) return t.fail()
  const saved = JSON.parse(readFileSync(join(dir, IPAM_FILE), 'utf8')) as { subnet: string; pool: string }
  t.is(saved.subnet, formatPrefix(a.subnet))
  t.is(saved.pool, '10.244.0.0/16')
  const b = allocateSubnet({ pool, hostPrefix: 24, taken: [], address, stateDir: dir, identity: 'two' })
  t.true(b.ok && formatPrefix(b.subnet) === formatPrefix(a.subnet) && b.reason === 'previous')
})

test('identity: machine-id (else hostname) plus the underlay address', (t) => {
  const addr = (parseAddress('10.99.0.12') as { value: number }).value
  t.is(hostIdentity(addr, (f) => (f === '/etc/machine-id' ? 'abc123\n' : undefined)), 'abc123/10.99.0.12')
  t.regex(hostIdentity(addr, () => undefined), /\/10\.99\.0\.12$/)
  t.true(hashSlot('x', 256) >= 0 && hashSlot('x', 256) < 256)
})
