/**
 * RIPng interop fixtures: a dual-stack lab (src/lab + netns/helpers-ripng.ts)
 * with one fabric host in rip mode, plus peer namespaces on the same
 * underlay bridge running BIRD 2 (`protocol rip ng`) or FRR 8 (zebra +
 * ripngd), each exporting what it learns to its kernel.
 *
 *   NAME-sw     the lab's underlay bridge br0 (10.99.0.0/24, fd00:99::/64)
 *   NAME-h1     fabric agent, fd00:99::1, subnet6 fd00:fab:0:1::/64
 *   NAME-bird   BIRD, fd00:99::21, announces fd00:fab:0:21::/64
 *   NAME-frr    FRR zebra + ripngd, fd00:99::22, announces fd00:fab:0:22::/64
 *
 * Every namespace carries the lab name, so labDown (teardown) kills every
 * process in them and deletes them; FRR's files live in /var/run/frr/NAME
 * and are removed in teardown too.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'
import { type LabSpec, labDown, labUp, modeDefaults, startAgent, waitAgents } from '../../src/lab/lab.js'
import { must, run, waitFor } from '../../src/lab/sh.js'
import { uniqueName } from '../netns/helpers.js'
import { addIpv6, linkLocal } from '../netns/helpers-ripng.js'
import { startFrrDaemon } from './helpers-rip.js'

export const FABRIC6 = { address6: 'fd00:99::1', subnet6: 'fd00:fab:0:1::/64' }
export const BIRD6 = { address: '10.99.0.21', address6: 'fd00:99::21', subnet6: 'fd00:fab:0:21::/64' }
export const FRR6 = { address: '10.99.0.22', address6: 'fd00:99::22', subnet6: 'fd00:fab:0:22::/64' }

export interface RipngInteropLab {
  lab: LabSpec
  name: string
  ns: { fabric: string; peer: string }
  socket: string
  log: string
  frrDir: string
  dir: string
}

/** A namespace NAME-SUFFIX with eth0 on the lab's underlay bridge, IPv4 and IPv6 addresses, no DAD. */
export async function addPeerNs(lab: LabSpec, suffix: string, address: string, address6: string): Promise<string> {
  const ns = `${lab.name}-${suffix}`
  const sw = `${lab.name}-sw`
  await must('ip', ['netns', 'add', ns])
  await must('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.default.accept_dad=0', 'net.ipv6.conf.all.accept_dad=0'])
  await must('ip', ['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', `p${suffix}`, 'netns', sw])
  await must('ip', ['-n', sw, 'link', 'set', `p${suffix}`, 'master', 'br0', 'up'])
  await must('ip', ['-n', ns, '-batch', '-'], `link set lo up\naddr add ${address}/24 dev eth0\naddr add ${address6}/64 dev eth0 nodad\nlink set eth0 up\n`)
  await waitFor(async () => ((await linkLocal(ns).catch(() => '')) !== '' ? true : undefined), 10_000, 100)
  return ns
}

/** The dual-stack lab with the fabric agent running and an empty peer namespace (bird or frr). */
export async function ripngInteropLab(t: ExecutionContext, tag: string, peer: 'bird' | 'frr'): Promise<RipngInteropLab> {
  const name = uniqueName(tag)
  const frrDir = `/var/run/frr/${name}`
  t.teardown(async () => {
    await labDown(name)
    rmSync(frrDir, { recursive: true, force: true })
  })
  const lab = await labUp({ name, hosts: 1, mode: 'rip', start: false, iniExtra: modeDefaults('rip') })
  const h1 = lab.hosts[0]!
  await addIpv6(lab)
  const p = peer === 'bird' ? BIRD6 : FRR6
  const ns = { fabric: h1.ns, peer: await addPeerNs(lab, peer, p.address, p.address6) }
  const il: RipngInteropLab = { lab, name, ns, socket: h1.socket, log: h1.log, frrDir, dir: join(h1.dir, '..', peer) }
  startAgent(lab, h1)
  await waitAgents(lab, [h1])
  return il
}

/** BIRD 2: RIPng on eth0 with the lab's timers, a static fd00:fab:0:21::/64, RIPng routes exported to the kernel. */
export async function startBirdRipng(il: RipngInteropLab): Promise<{ ctl: string; pidFile: string }> {
  mkdirSync(il.dir, { recursive: true })
  const conf = join(il.dir, 'bird.conf')
  writeFileSync(conf, `router id ${BIRD6.address};
log "${join(il.dir, 'bird.log')}" all;
protocol device { scan time 1; }
protocol static { ipv6; route ${BIRD6.subnet6} blackhole; }
protocol kernel { ipv6 { import none; export where source = RTS_RIP; }; }
protocol rip ng rip1 {
  ipv6 { import all; export all; };
  interface "eth0" {
    update time 5;
    timeout time 15;
    garbage time 10;
  };
}
`)
  const ctl = join(il.dir, 'bird.ctl')
  const pidFile = join(il.dir, 'bird.pid')
  await must('ip', ['netns', 'exec', il.ns.peer, 'bird', '-c', conf, '-s', ctl, '-P', pidFile])
  return { ctl, pidFile }
}

/** FRR zebra + ripngd (pathspace NAME): RIPng on eth0, `route fd00:fab:0:22::/64`, timers basic 5 15 10. */
export async function startFrrRipng(il: RipngInteropLab): Promise<{ pidFile: string }> {
  const dir = il.frrDir
  await startFrrDaemon(il.ns.peer, il.name, dir, 'ripngd', `hostname ${il.name}-ripngd
log file ${dir}/ripngd.log
router ripng
 network eth0
 route ${FRR6.subnet6}
 timers basic 5 15 10
!
`)
  return { pidFile: join(dir, 'ripngd.pid') }
}

/** `ip -6 -n NS route show PREFIX` as one line ('' when absent). */
export async function kernelRoute6(ns: string, prefix: string): Promise<string> {
  return (await run('ip', ['-n', ns, '-6', 'route', 'show', prefix])).stdout.trim()
}

/** Polls until `ip -6 route show PREFIX` in ns matches (or, with 'absent', is empty). */
export async function waitKernelRoute6(ns: string, prefix: string, re: RegExp | 'absent', timeoutMs: number): Promise<string> {
  let last = ''
  await waitFor(async () => {
    last = await kernelRoute6(ns, prefix)
    return (re === 'absent' ? last === '' : re.test(last)) ? true : undefined
  }, timeoutMs, 200)
  return last
}
