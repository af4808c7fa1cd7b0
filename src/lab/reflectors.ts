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

/** Replaces every {{KEY}} in a template; a placeholder left without a value is an error. */
export function renderTemplate(text: string, values: Record<string, string | number>): string {
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
}

function values(p: ReflectorParams, logFile: string): Record<string, string | number> {
  return {
    ROUTER_ID: p.address, LOCAL_ADDRESS: p.address, ASN: p.asn, CLUSTER_ID: p.clusterId, CLIENT_RANGE: p.clientRange,
    HOLD_TIME: p.holdTime, KEEPALIVE_TIME: Math.max(1, Math.floor(p.holdTime / 3)), LOG_FILE: logFile, HOSTNAME: p.ns,
    LISTEN_LIMIT: Math.max(100, p.clients + 16),
  }
}

export function birdFiles(p: ReflectorParams): { conf: string; ctl: string; pid: string; log: string } {
  return { conf: join(p.dir, 'bird.conf'), ctl: join(p.dir, 'bird.ctl'), pid: join(p.dir, 'bird.pid'), log: join(p.dir, 'bird.log') }
}

export async function startBirdReflector(p: ReflectorParams): Promise<void> {
  mkdirSync(p.dir, { recursive: true })
  const f = birdFiles(p)
  writeFileSync(f.conf, renderTemplate(readTemplate('bird-route-reflector.conf'), values(p, f.log)))
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
  writeFileSync(conf, renderTemplate(readTemplate('frr-route-reflector.conf'), values(p, join(dir, 'frr.log'))))
  writeFileSync(join(dir, 'vtysh.conf'), '')
  const { uid, gid } = await frrIds()
  for (const f of [dir, conf, join(dir, 'vtysh.conf')]) chownSync(f, uid, gid)
  for (const d of ['zebra', 'bgpd'] as const) {
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
