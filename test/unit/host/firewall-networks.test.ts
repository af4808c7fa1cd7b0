import test from 'ava'
import { loadConfigText } from '../../../src/config/fabric-config.js'
import { type FirewallSpec, ISOLATION_CHAIN, desiredChains, firewallSpec, planApply, planRemove } from '../../../src/host/firewall.js'
import { type Saved, parseSave, rulesOf } from '../../../src/host/iptables.js'
import { P } from '../../helpers/net.js'
import { applyScript, clone, render, walk } from './restore-sim.js'

const BARE = '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n-A DOCKER-USER -j RETURN\nCOMMIT\n*nat\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n'

/** host 2 of the fabric: default 10.244.2.0/24, backend 10.245.2.0/24, frontend 10.246.2.0/24 */
const one: FirewallSpec = { pool: P('10.244.0.0/16'), local: P('10.244.2.0/24'), masquerade: true }
const backend = { name: 'backend', pool: P('10.245.0.0/16'), local: P('10.245.2.0/24') }
const frontend = { name: 'frontend', pool: P('10.246.0.0/16'), local: P('10.246.2.0/24') }
const two: FirewallSpec = { ...one, networks: [backend] }
const three: FirewallSpec = { ...one, networks: [backend, frontend] }

function applied(spec: FirewallSpec, from: string = BARE): Saved {
  const saved = parseSave(from)
  return applyScript(clone(saved), planApply(desiredChains(spec, saved), saved).script)
}

const rules = (spec: FirewallSpec, table: string, chain: string): string[] => rulesOf(applied(spec), table, chain)

test('1 network (the default alone): the rules of before networks existed, no FABRIC-ISOLATION', (t) => {
  t.deepEqual(rules(one, 'filter', 'FABRIC-FORWARD'), ['-s 10.244.0.0/16 -d 10.244.2.0/24 -j ACCEPT', '-s 10.244.2.0/24 -d 10.244.0.0/16 -j ACCEPT'])
  t.deepEqual(rules(one, 'nat', 'FABRIC-POSTROUTING'), ['-s 10.244.2.0/24 -d 10.244.0.0/16 -j ACCEPT', '-s 10.244.2.0/24 -j MASQUERADE'])
  t.false(applied(one).get('filter')!.chains.has(ISOLATION_CHAIN))
  t.deepEqual(desiredChains({ ...one, networks: [], allow: [] }, parseSave(BARE)), desiredChains(one, parseSave(BARE)))
})

test('2 networks without allow: accepts per network, then the isolation goto and drops', (t) => {
  t.deepEqual(rules(two, 'filter', 'FABRIC-FORWARD'), [
    '-s 10.244.0.0/16 -d 10.244.2.0/24 -j ACCEPT',
    '-s 10.244.2.0/24 -d 10.244.0.0/16 -j ACCEPT',
    '-s 10.245.0.0/16 -d 10.245.2.0/24 -j ACCEPT',
    '-s 10.245.2.0/24 -d 10.245.0.0/16 -j ACCEPT',
    '-s 10.244.0.0/16 -d 10.244.0.0/16 -j RETURN',
    '-s 10.245.0.0/16 -d 10.245.0.0/16 -j RETURN',
    '-d 10.244.0.0/16 -g FABRIC-ISOLATION',
    '-d 10.245.0.0/16 -g FABRIC-ISOLATION',
  ])
  t.deepEqual(rules(two, 'filter', ISOLATION_CHAIN), ['-s 10.244.0.0/16 -j DROP', '-s 10.245.0.0/16 -j DROP'])
  t.deepEqual(rules(two, 'nat', 'FABRIC-POSTROUTING'), [
    '-s 10.244.2.0/24 -d 10.244.0.0/16 -j ACCEPT', '-s 10.244.2.0/24 -j MASQUERADE',
    '-s 10.245.2.0/24 -d 10.245.0.0/16 -j ACCEPT', '-s 10.245.2.0/24 -j MASQUERADE',
  ])
})

test('2 networks with allow: both directions accepted for this host\'s subnets, no NAT between them', (t) => {
  const spec = { ...two, allow: [['backend', 'default']] as [string, string][] }
  t.deepEqual(rules(spec, 'filter', 'FABRIC-FORWARD').slice(4, 8), [
    '-s 10.244.0.0/16 -d 10.245.2.0/24 -j ACCEPT',
    '-s 10.245.2.0/24 -d 10.244.0.0/16 -j ACCEPT',
    '-s 10.245.0.0/16 -d 10.244.2.0/24 -j ACCEPT',
    '-s 10.244.2.0/24 -d 10.245.0.0/16 -j ACCEPT',
  ])
  t.deepEqual(rules(spec, 'nat', 'FABRIC-POSTROUTING'), [
    '-s 10.244.2.0/24 -d 10.244.0.0/16 -j ACCEPT', '-s 10.244.2.0/24 -d 10.245.0.0/16 -j ACCEPT', '-s 10.244.2.0/24 -j MASQUERADE',
    '-s 10.245.2.0/24 -d 10.245.0.0/16 -j ACCEPT', '-s 10.245.2.0/24 -d 10.244.0.0/16 -j ACCEPT', '-s 10.245.2.0/24 -j MASQUERADE',
  ])
})

/** addresses: c<host>.<net>; this host is host 2, host 1 and 3 are remote */
const addr = (host: number, net: 'default' | 'backend' | 'frontend'): string => `10.${{ default: 244, backend: 245, frontend: 246 }[net]}.${host}.10`
const NETS = ['default', 'backend', 'frontend'] as const

/** The FORWARD verdict on this host (2) for every (src, dst) pair of containers where one side is local. */
function matrix(spec: FirewallSpec): Record<string, string> {
  const saved = applied(spec)
  const out: Record<string, string> = {}
  for (const a of NETS) {
    for (const b of NETS) {
      for (const [hs, hd] of [[2, 2], [2, 1], [1, 2]] as const) {
        const v = walk(saved, 'filter', 'FORWARD', addr(hs, a), addr(hd, b))
        out[`${a}@${hs}->${b}@${hd}`] = v === 'ACCEPT' ? 'ok' : v === 'DROP' ? 'drop' : v
      }
    }
  }
  return out
}

test('3 networks without allow: within a network ok (same host, to and from other hosts), between networks dropped both ways', (t) => {
  const m = matrix(three)
  for (const [k, v] of Object.entries(m)) {
    const [a, b] = k.split('->').map((s) => s.split('@')[0])
    t.is(v, a === b ? 'ok' : 'drop', k)
  }
  // outside the fabric (a published port from outside, a container reaching the internet): fabric has no say
  const saved = applied(three)
  t.is(walk(saved, 'filter', 'FORWARD', '203.0.113.5', addr(2, 'backend')), 'continue')
  t.is(walk(saved, 'filter', 'FORWARD', addr(2, 'backend'), '203.0.113.5'), 'continue')
})

test('3 networks with allow backend<->frontend: that pair ok both ways on this host and to/from others, default isolated', (t) => {
  const m = matrix({ ...three, allow: [['backend', 'frontend']] })
  for (const [k, v] of Object.entries(m)) {
    const [a, b] = k.split('->').map((s) => s.split('@')[0])
    const ok = a === b || (a !== 'default' && b !== 'default')
    t.is(v, ok ? 'ok' : 'drop', k)
  }
  t.deepEqual(rules({ ...three, allow: [['backend', 'frontend']] }, 'filter', ISOLATION_CHAIN), ['-s 10.244.0.0/16 -j DROP', '-s 10.245.0.0/16 -j DROP', '-s 10.246.0.0/16 -j DROP'])
})

test('the receiving host drops on its own: a packet from another network arriving from the underlay', (t) => {
  const saved = applied(three)
  // host 1's frontend container to host 2's backend one, as host 2 sees it (its FORWARD)
  t.is(walk(saved, 'filter', 'FORWARD', addr(1, 'frontend'), addr(2, 'backend')), 'DROP')
  t.is(walk(saved, 'filter', 'FORWARD', addr(1, 'backend'), addr(2, 'backend')), 'ACCEPT')
})

test('rule count is O(networks + allowed pairs), independent of the number of hosts', (t) => {
  const count = (n: number, pairs: number): number => {
    const networks = Array.from({ length: n }, (_, i) => ({ name: `n${i}`, pool: P(`10.${100 + i}.0.0/16`), local: P(`10.${100 + i}.2.0/24`) }))
    const allow = Array.from({ length: pairs }, (_, i) => [`n${i}`, `n${i + 1}`] as [string, string])
    return desiredChains({ ...one, networks, allow }, parseSave(BARE)).reduce((s, c) => s + c.rules.length, 0)
  }
  // N = n + 1 networks: forward 2N + N + N, isolation N, nat 2N; each pair 4 forward + 2 nat: 7N + 6 pairs
  t.is(count(1, 0), 7 * 2)
  t.is(count(9, 0), 7 * 10)
  t.is(count(9, 3), 7 * 10 + 6 * 3)
})

test('a network this host has no subnet of: isolation rules only', (t) => {
  const r = rules({ ...one, networks: [{ name: 'backend', pool: P('10.245.0.0/16') }] }, 'filter', 'FABRIC-FORWARD')
  t.false(r.some((x) => x.includes('-d 10.245.0.0/16 -j ACCEPT') || x.includes('-s 10.245.0.0/16 -d 10.245.2')))
  t.true(r.includes('-d 10.245.0.0/16 -g FABRIC-ISOLATION'))
})

test('idempotent, and going back to one network removes FABRIC-ISOLATION after FABRIC-FORWARD stops using it', (t) => {
  const after = applied(three)
  t.is(planApply(desiredChains(three, after), parseSave(render(after))).script, '')
  const back = planApply(desiredChains(one, after), after)
  t.true(back.changes.includes(`filter ${ISOLATION_CHAIN} removed (no fabric networks)`))
  const done = applyScript(clone(after), back.script)
  t.false(done.get('filter')!.chains.has(ISOLATION_CHAIN))
  t.deepEqual(rulesOf(done, 'filter', 'FABRIC-FORWARD'), rules(one, 'filter', 'FABRIC-FORWARD'))
})

test('isolation chain flushed by hand is put back; FORWARD order in the script creates it first', (t) => {
  const after = applied(three)
  after.get('filter')!.rules.set(ISOLATION_CHAIN, [])
  const plan = planApply(desiredChains(three, after), after)
  t.deepEqual(plan.changes, [`filter ${ISOLATION_CHAIN} rules rewritten`])
  const fresh = parseSave(BARE)
  const s = planApply(desiredChains(three, fresh), fresh).script
  t.true(s.indexOf(`:${ISOLATION_CHAIN}`) < s.indexOf(':FABRIC-FORWARD'))
})

test('remove: FABRIC-FORWARD, then FABRIC-ISOLATION, then the nat chain; back to the state before', (t) => {
  const after = applied(three)
  const plan = planRemove(after)
  const done = applyScript(clone(after), plan.script)
  t.is(render(done), render(parseSave(BARE)))
  t.deepEqual(plan.changes, [
    'filter DOCKER-USER jump to FABRIC-FORWARD removed', 'filter FABRIC-FORWARD removed', `filter ${ISOLATION_CHAIN} removed`,
    'nat POSTROUTING jump to FABRIC-POSTROUTING removed', 'nat FABRIC-POSTROUTING removed',
  ])
})

test('firewallSpec from a loaded config: networks, this host\'s subnets, symmetric allow pairs', (t) => {
  const c = loadConfigText(`[fabric]
pool = 10.244.0.0/16
[host.a]
address = 192.168.1.1
subnet = 10.244.2.0/24
[network.backend]
pool = 10.245.0.0/16
[network.frontend]
pool = 10.246.0.0/16
allow = backend
`)
  const h = c.hosts[0]!
  const spec = firewallSpec({ pool: c.pool, local: h.subnet, masquerade: true, networks: c.networks, localSubnets: h.networks ?? {} })
  t.deepEqual(spec.allow, [['backend', 'frontend']])
  t.deepEqual(desiredChains(spec, parseSave(BARE)), desiredChains({ ...three, allow: [['frontend', 'backend']] }, parseSave(BARE)))
})
