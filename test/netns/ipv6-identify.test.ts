/**
 * IPv6 identification with real agents (mode rip, fabric.ini with pool6 only):
 * address6 found on the underlay interface, subnet6 allocated automatically
 * (the IPv4 subnet's slot: 10.244.N.0/24 -> fd00:fab:0:N::/64), kept in
 * ipam6.json across a restart without learning again; a host with two
 * global IPv6 addresses on its underlay is refused (exit 2) naming them.
 */
import type { ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import test from 'ava'
import { getJson } from '../../src/api/client.js'
import type { StatusResponse } from '../../src/api/types.js'
import { signalAgent, startAgent, waitAgents } from '../../src/lab/lab.js'
import { ip, logEvents, withLab } from './helpers.js'

/** The exit code of an agent started detached (ref'd again so the test waits for it). */
const exitOf = (c: ChildProcess): Promise<number | null> => new Promise((r) => {
  c.ref()
  c.on('exit', (code) => r(code))
})

test.serial('rip + pool6: address6 from the interface, automatic subnet6 kept across restarts; several addresses refused', async (t) => {
  const lab = await withLab(t, { tag: 'i6', hosts: 3, mode: 'rip', start: false })
  for (const h of lab.hosts) await ip(h.ns, 'addr', 'add', `fd00:99::${h.index}/64`, 'dev', 'eth0', 'nodad')
  await ip(lab.hosts[2]!.ns, 'addr', 'add', '2001:db8:99::3/64', 'dev', 'eth0', 'nodad')
  writeFileSync(lab.config, readFileSync(lab.config, 'utf8').replace('[fabric]\n', '[fabric]\npool6 = fd00:fab::/48\n'))
  const [h1, h2, h3] = lab.hosts as [typeof lab.hosts[0], typeof lab.hosts[0], typeof lab.hosts[0]]

  // node3: two global addresses on eth0, nothing says which: exit 2, nothing started
  const refused = await exitOf(startAgent(lab, h3))
  t.is(refused, 2)
  const why = readFileSync(h3.log, 'utf8')
  t.regex(why, /the underlay interface eth0 has several global IPv6 addresses \(.*\); say which one is this host's with --address6/)
  t.true(why.includes('fd00:99::3/64') && why.includes('2001:db8:99::3/64'), 'both named')

  startAgent(lab, h1)
  startAgent(lab, h2)
  await waitAgents(lab, [h1, h2], 60_000)
  for (const h of [h1, h2]) {
    const s = await getJson<StatusResponse>(h.socket, '/v1/status')
    t.is(s.host.address6, `fd00:99::${h.index}`, `${h.name}: address6 found on eth0`)
    t.is(s.host.underlay6, 'fd00:99::/64')
    t.is(s.host.subnet6, `fd00:fab:0:${h.index}::/64`, `${h.name}: the IPv4 subnet's slot`)
    t.like(logEvents(h.log, 'subnet6-allocated')[0], { subnet6: `fd00:fab:0:${h.index}::/64`, how: 'preferred' })
    t.is(JSON.parse(readFileSync(join(h.dir, 'ipam6.json'), 'utf8')).subnet6, `fd00:fab:0:${h.index}::/64`)
    t.is(JSON.parse(readFileSync(join(h.dir, 'state.json'), 'utf8')).subnet6, `fd00:fab:0:${h.index}::/64`)
  }
  t.is(logEvents(h1.log, 'subnet-discovery-done').length, 1, 'learned the fabric\'s subnets before choosing')
  // a restart keeps subnet6 without learning again
  await signalAgent(h1, 'SIGTERM')
  startAgent(lab, h1)
  await waitAgents(lab, [h1], 60_000)
  t.is((await getJson<StatusResponse>(h1.socket, '/v1/status')).host.subnet6, 'fd00:fab:0:1::/64')
  t.is(logEvents(h1.log, 'subnet-discovery-done').length, 1)
  t.is(logEvents(h1.log, 'subnet6-allocated').at(-1)?.how, 'previous')
})
