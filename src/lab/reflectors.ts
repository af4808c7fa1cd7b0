/**
 * BIRD and FRR route reflectors for the lab, configured from the same
 * templates/ snippets that docs/operations.md gives operators.
 *
 * A reflector runs in its own namespace NAME-rK on the underlay; BIRD keeps
 * its config, control socket and pid file in the lab directory, FRR (zebra +
 * bgpd with `-N NAME-rK`) in /var/run/frr/NAME-rK owned by frr:frr, as FRR
 * requires. `labDown` kills every process in the lab's namespaces and removes
 * those directories.
 */
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { run } from './sh.js'

export type RrEngine = 'fabric' | 'bird' | 'frr'
export const RR_ENGINES: readonly RrEngine[] = ['fabric', 'bird', 'frr']

export const TEMPLATES_DIR = fileURLToPath(new URL('../../templates/', import.meta.url))
export const FRR_RUN = process.env.FABRIC_LAB_FRR_RUN ?? '/var/run/frr'

/**
 * Replaces every {{KEY}} in a template; a placeholder left without a value is
 * an error. `enable` names optional blocks to switch on: their lines start
 * (after indentation) with the marker, e.g. "#bfd " in BIRD's template or
 * "!bfd " in FRR's, and lose it, exactly as the templates tell operators to
 * do by hand; without it they stay comments.
 */
export function renderTemplate(text: string, values: Record<string, string | number>, enable: string[] = []): string {
  for (const marker of enable) {
    const esc = marker.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    const re = new RegExp(`^( *)${esc} `, 'gm')
    if (!re.test(text)) throw new Error(`template has no "${marker} " block to enable`)
    text = text.replace(re, '$1')
  }
  const out = text.replace(/\{\{([A-Z_]+)\}\}/g, (m, key: string) => (key in values ? String(values[key]) : m))
  const left = /\{\{([A-Z_]+)\}\}/.exec(out)
  if (left) throw new Error(`template placeholder ${left[0]} has no value`)
  return out
}

export function readTemplate(file: string): string {
  return readFileSync(join(TEMPLATES_DIR, file), 'utf8')
}

export interface ReflectorParams {
  /** namespace the reflector runs in */
  ns: string
  /** its directory (BIRD files) */
  dir: string
  address: string
  asn: number
  clusterId: string
  clientRange: string
  holdTime: number
  /** the most clients expected (FRR's listen limit) */
  clients: number
  /** BFD with every client (the templates' optional BFD block; FRR also runs bfdd); absent: no BFD */
  bfd?: { interval: number; multiplier: number }
}

function values(p: ReflectorParams, logFile: string): Record<string, string | number> {
  return {
    ROUTER_ID: p.address, LOCAL_ADDRESS: p.address, ASN: p.asn, CLUSTER_ID: p.clusterId, CLIENT_RANGE: p.clientRange,
    HOLD_TIME: p.holdTime, KEEPALIVE_TIME: Math.max(1, Math.floor(p.holdTime / 3)), LOG_FILE: logFile, HOSTNAME: p.ns,
    LISTEN_LIMIT: Math.max(100, p.clients + 16),
    // the BFD block's values are filled in also when it stays commented out (the operator's defaults)
    BFD_INTERVAL: p.bfd?.interval ?? 100, BFD_MULTIPLIER: p.bfd?.multiplier ?? 3,
  }
}

export function birdFiles(p: ReflectorParams): { conf: string; ctl: string; pid: string; log: string } {
  return { conf: join(p.dir, 'bird.conf'), ctl: join(p.dir, 'bird.ctl'), pid: join(p.dir, 'bird.pid'), log: join(p.dir, 'bird.log') }
}

export async function startBirdReflector(p: ReflectorParams): Promise<void> {
  mkdirSync(p.dir, { recursive: true })
  const f = birdFiles(p)
  writeFileSync(f.conf, renderTemplate(readTemplate('bird-route-reflector.conf'), values(p, f.log), p.bfd ? ['#bfd'] : []))
  const r = await run('ip', ['netns', 'exec', p.ns, 'bird', '-c', f.conf, '-s', f.ctl, '-P', f.pid])
  if (r.code !== 0) throw new Error(`bird failed to start in ${p.ns}: ${(r.stderr || r.stdout).trim()}`)
}

export function frrDir(ns: string): string {
  return join(FRR_RUN, ns)
}

async function frrIds(): Promise<{ uid: number; gid: number }> {
  const u = await run('id', ['-u', 'frr'])
  const g = await run('id', ['-g', 'frr'])
  if (u.code !== 0 || g.code !== 0) throw new Error('user frr not found: is FRR installed?')
  return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) }
}

export async function startFrrReflector(p: ReflectorParams): Promise<void> {
  const dir = frrDir(p.ns)
  mkdirSync(dir, { recursive: true })
  const conf = join(dir, 'frr.conf')
  writeFileSync(conf, renderTemplate(readTemplate('frr-route-reflector.conf'), values(p, join(dir, 'frr.log')), p.bfd ? ['!bfd'] : []))
  writeFileSync(join(dir, 'vtysh.conf'), '')
  const { uid, gid } = await frrIds()
  for (const f of [dir, conf, join(dir, 'vtysh.conf')]) chownSync(f, uid, gid)
  // bfdd (with BFD) before bgpd, which registers its BFD peers through zebra
  for (const d of p.bfd ? ['zebra', 'bfdd', 'bgpd'] : ['zebra', 'bgpd']) {
    const r = await run('ip', ['netns', 'exec', p.ns, `/usr/lib/frr/${d}`, '-N', p.ns, '-d', '-f', conf, '-i', join(dir, `${d}.pid`)])
    if (r.code !== 0) throw new Error(`${d} failed to start in ${p.ns}: ${(r.stderr || r.stdout).trim()}`)
  }
}

/** Removes FRR pathspace directories of a lab's namespaces (NAME-*). */
export function removeFrrDirs(lab: string): void {
  if (!existsSync(FRR_RUN)) return
  for (const d of readdirSync(FRR_RUN)) if (d.startsWith(`${lab}-`)) rmSync(join(FRR_RUN, d), { recursive: true, force: true })
}

/** Established BGP sessions of a BIRD or FRR reflector. */
export async function reflectorSessions(engine: 'bird' | 'frr', p: Pick<ReflectorParams, 'ns' | 'dir'>): Promise<number> {
  if (engine === 'bird') {
    const r = await run('ip', ['netns', 'exec', p.ns, 'birdc', '-s', join(p.dir, 'bird.ctl'), 'show', 'protocols'])
    return r.stdout.split('\n').filter((l) => /\bBGP\b.*\bEstablished\b/.test(l)).length
  }
  const r = await run('ip', ['netns', 'exec', p.ns, 'vtysh', '-N', p.ns, '-c', 'show bgp ipv4 unicast summary json'])
  try {
    // `show bgp ipv4 unicast summary json` gives the peers at the top level (plain `show bgp summary json` under ipv4Unicast)
    const j = JSON.parse(r.stdout) as { peers?: Record<string, { state: string }>; ipv4Unicast?: { peers?: Record<string, { state: string }> } }
    return Object.values(j.peers ?? j.ipv4Unicast?.peers ?? {}).filter((x) => x.state === 'Established').length
  } catch {
    return 0
  }
}

/**
 * BFD sessions of a BIRD or FRR reflector: the peer addresses whose session
 * is Up (BIRD `show bfd sessions`, FRR `show bfd peers json`), and how many
 * sessions it has in all.
 */
export async function reflectorBfd(engine: 'bird' | 'frr', p: Pick<ReflectorParams, 'ns' | 'dir'>): Promise<{ up: string[]; total: number }> {
  if (engine === 'bird') {
    const r = await run('ip', ['netns', 'exec', p.ns, 'birdc', '-s', join(p.dir, 'bird.ctl'), 'show', 'bfd', 'sessions'])
    // "10.99.0.13  eth0  Up  17:01:02.345  0.100  0.300" (birdc's "1020-" continuation prefix stripped)
    const rows = r.stdout.split('\n').map((l) => l.replace(/^\d{4}[- ]/, '').trim().split(/\s+/)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f[0] ?? ''))
    return { up: rows.filter((f) => f[2] === 'Up').map((f) => f[0]!), total: rows.length }
  }
  const r = await run('ip', ['netns', 'exec', p.ns, 'vtysh', '-N', p.ns, '-c', 'show bfd peers json'])
  try {
    const peers = JSON.parse(r.stdout) as { peer: string; status: string }[]
    return { up: peers.filter((x) => x.status === 'up').map((x) => x.peer), total: peers.length }
  } catch {
    return { up: [], total: 0 }
  }
}
