/** The lab itself: coexisting labs, `lab status`, and `lab down` after a crash. */
import { existsSync, rmSync } from 'node:fs'
import test from 'ava'
import { agentPids, labDir, labDown, labNamespaces, labUp, reachability } from '../../src/lab/lab.js'
import { fabric, run, uniqueName } from './helpers.js'

test.serial('two labs with different names coexist; lab status shows routes and the matrix', async (t) => {
  const a = uniqueName('la')
  const b = uniqueName('lb')
  t.teardown(async () => {
    await labDown(a)
    await labDown(b)
  })
  const labA = await labUp({ name: a, hosts: 2 })
  const labB = await labUp({ name: b, hosts: 3 })
  t.deepEqual((await reachability(labA)).filter((r) => !r.ok), [])
  t.deepEqual((await reachability(labB)).filter((r) => !r.ok), [])
  const st = await fabric(['lab', 'status', '--name', b])
  t.is(st.code, 0, st.stderr)
  t.regex(st.stdout, /== node3 \(10\.99\.0\.13, subnet 10\.244\.3\.0\/24, namespace [a-z0-9]+-h3\) — fabric routes/)
  t.regex(st.stdout, /10\.244\.1\.0\/24\s+10\.99\.0\.11\s+eth0\s+static\/node1\s+0\s+\d+s\s+installed/)
  t.regex(st.stdout, /6\/6 ok/)
  // removing one leaves the other intact
  await labDown(a)
  t.deepEqual(await labNamespaces(a), [])
  t.is((await labNamespaces(b)).length, 7)
  t.deepEqual((await reachability(labB)).filter((r) => !r.ok), [])
})

test.serial('lab down removes everything after a crash (no lab.json, agents still running)', async (t) => {
  const name = uniqueName('lc')
  t.teardown(() => labDown(name).then(() => undefined))
  const lab = await labUp({ name, hosts: 2 })
  const pids = (await agentPids(lab.hosts[0]!)).concat(await agentPids(lab.hosts[1]!))
  t.is(pids.length, 2)
  // the lab's own records are gone, as after a crash of whatever ran it
  rmSync(labDir(name), { recursive: true, force: true })
  const st = await fabric(['lab', 'status', '--name', name])
  t.is(st.code, 1)
  t.regex(st.stderr, new RegExp(`no lab "${name}" \\(labs here: .*${name}`))
  const down = await fabric(['lab', 'down', '--name', name])
  t.is(down.code, 0, down.stderr)
  t.regex(down.stdout, new RegExp(`lab ${name}: removed 5 namespaces, stopped 2 processes`))
  t.deepEqual(await labNamespaces(name), [])
  for (const pid of pids) t.false(existsSync(`/proc/${pid}`), `agent ${pid} gone`)
  t.false(existsSync(labDir(name)))
  const again = await run(process.execPath, ['bin/fabric.js', 'lab', 'down', '--name', name])
  t.is(again.code, 0, 'idempotent')
})

test.serial('lab status above 10 hosts prints a summary (converged, routes min/median/max, pings from 10 containers); --matrix the full report', async (t) => {
  const name = uniqueName('ls')
  t.teardown(() => labDown(name).then(() => undefined))
  await labUp({ name, hosts: 12, logLevel: 'info' })
  const st = await fabric(['lab', 'status', '--name', name])
  t.is(st.code, 0, st.stdout + st.stderr)
  t.regex(st.stdout, /^converged: 12\/12 hosts have a route to every other host's subnet$/m)
  t.regex(st.stdout, /^agents: 12\/12 answering$/m)
  t.regex(st.stdout, /^routes per host \(fabric routes in each host's kernel\): min 11, median 11, max 11 \(expected 11\)$/m)
  t.regex(st.stdout, /^reachability: 110\/110 pings answered from the containers of node1, node2, node3, node4, node5, node7, node8, node9, node10, node11 to every other container$/m)
  // a summary: no per-host route tables (those are --matrix's)
  t.notRegex(st.stdout, /^== node/m)
  const full = await fabric(['lab', 'status', '--name', name, '--matrix'])
  t.is(full.code, 0)
  t.regex(full.stdout, /132\/132 ok/)
  t.regex(full.stdout, /== node12 \(10\.99\.0\.22, subnet 10\.244\.12\.0\/24/)
  // a host down shows in the summary and the exit code
  const { signalAgent } = await import('../../src/lab/lab.js')
  const { readLab } = await import('../../src/lab/lab.js')
  await signalAgent(readLab(name)!.hosts[4]!, 'SIGKILL')
  const after = await fabric(['lab', 'status', '--name', name])
  t.is(after.code, 1)
  t.regex(after.stdout, /^agents not answering: node5$/m)
  t.regex(after.stdout, /^converged: 11\/12/m)
})

test('lab up refuses reflectors without mode bgp, before creating anything', async (t) => {
  const name = uniqueName('lr')
  const r = await fabric(['lab', 'up', '--name', name, '--hosts', '3', '--topology', 'rr'])
  t.is(r.code, 1)
  t.regex(r.stderr, /--topology rr: route reflectors need --mode bgp \(not static\)/)
  t.deepEqual(await labNamespaces(name), [])
  t.false(existsSync(labDir(name)))
})
