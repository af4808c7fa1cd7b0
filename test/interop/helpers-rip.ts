/**
 * RIP interop fixtures: a lab (src/lab) with one fabric host, plus peer
 * namespaces on the same underlay bridge running BIRD 2 or FRR 8 (zebra +
 * ripd).
 *
 *   NAME-sw     the lab's underlay bridge br0 (10.99.0.0/24)
 *   NAME-h1     fabric agent, 10.99.0.11, docker0 10.244.1.0/24
 *   NAME-bird   BIRD, 10.99.0.21, announces 10.244.21.0/24
 *   NAME-frr    FRR zebra + ripd, 10.99.0.22, announces 10.244.22.0/24
 *
 * Every namespace carries the lab name, so labDown (teardown) kills every
 * process in them and deletes them; FRR's files live in /var/run/frr/NAME
 * (FRR runs as user frr) and are removed in teardown too.
 */
import { chownSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'
import { type LabSpec, labDown, labUp, modeDefaults, startAgent, waitAgents } from '../../src/lab/lab.js'
import { must, run, sleep, waitFor } from '../../src/lab/sh.js'
import { uniqueName } from '../netns/helpers.js'

export { run, sleep, waitFor }

export type InteropAuth = 'none' | 'md5' | 'sha256'

/** Keys every speaker of a scenario shares. */
export const SECRETS = { md5: { id: 1, secret: 'fabric-md5' }, sha256: { id: 2, secret: 'fabric-sha' } } as const

export const FABRIC = { address: '10.99.0.11', subnet: '10.244.1.0/24' }
export const BIRD = { address: '10.99.0.21', subnet: '10.244.21.0/24' }
export const FRR = { address: '10.99.0.22', subnet: '10.244.22.0/24' }


export interface InteropLab {
  lab: LabSpec
  name: string
  ns: { fabric: string; bird: string; frr: string }
  /** fabric agent's control socket */
  socket: string
  log: string
  frrDir: string
  /** `fabric join` flags of the scenario (auth) */
  agentArgs: string[]
}

/** Adds a namespace NAME-SUFFIX with eth0 on the lab's underlay bridge. */
async function addPeerNs(lab: LabSpec, suffix: string, address: string): Promise<string> {
  const ns = `${lab.name}-${suffix}`
  const sw = `${lab.name}-sw`
  await must('ip', ['netns', 'add', ns])
  await must('ip', ['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', `p${suffix}`, 'netns', sw])
  await must('ip', ['-n', sw, 'link', 'set', `p${suffix}`, 'master', 'br0', 'up'])
  await must('ip', ['-n', ns, '-batch', '-'], `link set lo up\naddr add ${address}/24 dev eth0\nlink set eth0 up\n`)
  return ns
}

/** The lab with the fabric agent running (auth as asked) and empty peer namespaces. */
export async function interopLab(t: ExecutionContext, tag: string, auth: InteropAuth, peers: ('bird' | 'frr')[]): Promise<InteropLab> {
  const name = uniqueName(tag)
  const frrDir = `/var/run/frr/${name}`
  t.teardown(async () => {
    await labDown(name)
    rmSync(frrDir, { recursive: true, force: true })
  })
  const lab = await labUp({ name, hosts: 1, mode: 'rip', start: false, iniExtra: modeDefaults('rip') })
  const h1 = lab.hosts[0]!
  const ns = { fabric: h1.ns, bird: `${name}-bird`, frr: `${name}-frr` }
  if (peers.includes('bird')) await addPeerNs(lab, 'bird', BIRD.address)
  if (peers.includes('frr')) await addPeerNs(lab, 'frr', FRR.address)
  const il: InteropLab = { lab, name, ns, socket: h1.socket, log: h1.log, frrDir, agentArgs: [] }
  if (auth !== 'none') {
    const keyFile = join(h1.dir, 'rip.keys')
    writeFileSync(keyFile, keyFileText(auth), { mode: 0o600 })
    il.agentArgs.push('--auth', auth, '--key-file', keyFile)
  }
  await startFabric(il)
  return il
}

/** (Re)starts the fabric agent of the lab's host with the scenario's auth flags. */
export async function startFabric(il: InteropLab): Promise<void> {
  const h1 = il.lab.hosts[0]!
  startAgent(il.lab, h1, { extraArgs: il.agentArgs })
  await waitAgents(il.lab, [h1])
}

export function keyFileText(auth: Exclude<InteropAuth, 'none'>): string {
  const k = SECRETS[auth]
  return `# interop key\n${k.id} ${auth === 'md5' ? 'md5' : 'hmac-sha256'} ${k.secret}\n`
}

function birdAuth(auth: InteropAuth): string {
  if (auth === 'none') return 'authentication none;'
  if (auth === 'md5') return `authentication cryptographic; password "${SECRETS.md5.secret}" { id ${SECRETS.md5.id}; algorithm keyed md5; };`
  return `authentication cryptographic; password "${SECRETS.sha256.secret}" { id ${SECRETS.sha256.id}; algorithm hmac sha256; };`
}

/** BIRD 2 in NAME-bird: RIP on eth0 with short timers, a static 10.244.21.0/24, RIP routes exported to the kernel. */
export async function startBird(il: InteropLab, auth: InteropAuth): Promise<{ ctl: string }> {
  const dir = join(il.lab.hosts[0]!.dir, '..', 'bird')
  mkdirSync(dir, { recursive: true })
  const conf = join(dir, 'bird.conf')
  writeFileSync(conf, `router id ${BIRD.address};
log "${join(dir, 'bird.log')}" all;
protocol device { scan time 1; }
protocol static { ipv4; route ${BIRD.subnet} blackhole; }
protocol kernel { ipv4 { import none; export where source = RTS_RIP; }; }
protocol rip rip1 {
  ipv4 { import all; export all; };
  interface "eth0" {
    version 2;
    update time 5;
    timeout time 15;
    garbage time 10;
    ${birdAuth(auth)}
  };
}
`)
  const ctl = join(dir, 'bird.ctl')
  await must('ip', ['netns', 'exec', il.ns.bird, 'bird', '-c', conf, '-s', ctl, '-P', join(dir, 'bird.pid')])
  return { ctl }
}

/** FRR zebra + ripd in NAME-frr (pathspace NAME): RIP on eth0, `route 10.244.22.0/24`, timers basic 5 15 10. */
export async function startFrr(il: InteropLab, auth: 'none' | 'md5'): Promise<void> {
  const dir = il.frrDir
  const chain = auth === 'md5' ? `key chain fabric\n key ${SECRETS.md5.id}\n  key-string ${SECRETS.md5.secret}\n!\n` : ''
  const ifAuth = auth === 'md5' ? ' ip rip authentication mode md5\n ip rip authentication key-chain fabric\n' : ''
  await startFrrDaemon(il.ns.frr, il.name, dir, 'ripd', `hostname ${il.name}-ripd
log file ${dir}/ripd.log
${chain}interface eth0
${ifAuth}!
router rip
 version 2
 network eth0
 route ${FRR.subnet}
 timers basic 5 15 10
!
`)
}

/**
 * FRR's zebra and one routing daemon in namespace ns (pathspace name), files
 * in dir: the daemon's configuration `conf`, zebra's a hostname and a log.
 * The daemon starts once zebra's socket is there.
 */
export async function startFrrDaemon(ns: string, name: string, dir: string, daemon: 'ripd' | 'ripngd', conf: string): Promise<void> {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'zebra.conf'), `hostname ${name}-zebra\nlog file ${dir}/zebra.log\n`)
  writeFileSync(join(dir, `${daemon}.conf`), conf)
  const uid = Number((await must('id', ['-u', 'frr'])).trim())
  const gid = Number((await must('id', ['-g', 'frr'])).trim())
  for (const f of ['', 'zebra.conf', `${daemon}.conf`]) chownSync(join(dir, f), uid, gid)
  await must('ip', ['netns', 'exec', ns, '/usr/lib/frr/zebra', '-N', name, '-d', '-f', join(dir, 'zebra.conf'), '-i', join(dir, 'zebra.pid')])
  await waitFor(async () => ((await run('test', ['-S', join(dir, 'zserv.api')])).code === 0 ? true : undefined), 10_000, 100)
  await must('ip', ['netns', 'exec', ns, `/usr/lib/frr/${daemon}`, '-N', name, '-d', '-f', join(dir, `${daemon}.conf`), '-i', join(dir, `${daemon}.pid`)])
}

/** Kills a daemon by its pid file (SIGKILL: no goodbye, peers must time it out). */
export async function killByPidFile(file: string): Promise<void> {
  const pid = Number(readFileSync(file, 'utf8').trim())
  if (!(pid > 1)) throw new Error(`${file}: no pid`)
  process.kill(pid, 'SIGKILL')
  await waitFor(async () => {
    try {
      process.kill(pid, 0)
      return undefined
    } catch {
      return true
    }
  }, 5000, 50)
}

export function birdPidFile(il: InteropLab): string {
  return join(il.lab.hosts[0]!.dir, '..', 'bird', 'bird.pid')
}

/** `ip -n NS route show PREFIX` as one line ('' when absent). */
export async function kernelRoute(ns: string, prefix: string): Promise<string> {
  const r = await run('ip', ['-n', ns, 'route', 'show', prefix])
  return r.stdout.trim()
}

/** Polls until `ip -n NS route show PREFIX` matches (or, with absent, is empty). */
export async function waitKernelRoute(ns: string, prefix: string, re: RegExp | 'absent', timeoutMs: number): Promise<string> {
  let last = ''
  await waitFor(async () => {
    last = await kernelRoute(ns, prefix)
    return (re === 'absent' ? last === '' : re.test(last)) ? true : undefined
  }, timeoutMs, 200)
  return last
}
