/**
 * The kernel's neighbour (ARP, and IPv6 ND) table limits for large labs.
 *
 * The IPv4 neighbour table is one table for every network namespace; its
 * limits are the root namespace's net.ipv4.neigh.default.gc_thresh1/2/3
 * (defaults 128/512/1024). A lab of N hosts, every host talking to every
 * other, holds about N² entries, so above ~30 hosts the table overflows
 * (ping: "No buffer space available", BGP: EHOSTUNREACH). The IPv6
 * neighbour table is the same, with limits of its own
 * (net.ipv6.neigh.default.gc_thresh1/2/3): a dual-stack lab needs both.
 *
 * This is the one root-namespace change the lab makes: when the limits are
 * too small it raises them for its run and records the values it found in
 * LAB_ROOT/neigh-sysctl.json, with the labs that need them. `lab down` of the
 * last such lab puts the recorded values back; the record lives outside any
 * lab's directory, so this also works after a crash that lost the lab's
 * files. Concurrent `lab up`/`lab down` take a lock file.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { sleep } from './sh.js'

export const NEIGH_KEYS = ['gc_thresh1', 'gc_thresh2', 'gc_thresh3'] as const
export type NeighKey = (typeof NEIGH_KEYS)[number]
export type NeighValues = Record<NeighKey, number>

/** Which neighbour table: ARP (IPv4) or IPv6 neighbour discovery. */
export type NeighFamily = 'ipv4' | 'ipv6'

const PROC: Record<NeighFamily, string> = {
  ipv4: process.env.FABRIC_LAB_NEIGH_PROC ?? '/proc/sys/net/ipv4/neigh/default',
  ipv6: process.env.FABRIC_LAB_NEIGH6_PROC ?? '/proc/sys/net/ipv6/neigh/default',
}

export function sysctlName(k: NeighKey, family: NeighFamily = 'ipv4'): string {
  return `net.${family}.neigh.default.${k}`
}

/**
 * Neighbour entries a lab of `nodes` underlay addresses holds at most: every
 * host's eth0 resolves every other underlay address, plus a container and a
 * docker0 entry per host, plus a margin for the rest of the machine.
 */
export function neighEntriesFor(nodes: number): number {
  return nodes * nodes + 4 * nodes + 256
}

/** The limits a lab of `nodes` underlay addresses needs: hard max 2x its entries, soft max its entries, no GC below half. */
export function neighRequired(nodes: number): NeighValues {
  const e = neighEntriesFor(nodes)
  const round = (n: number) => Math.ceil(n / 1024) * 1024
  return { gc_thresh1: round(e / 2), gc_thresh2: round(e), gc_thresh3: round(2 * e) }
}

/** The current limits of one family's table; throws when the kernel has no such table (IPv6 disabled). */
export function readNeigh(family: NeighFamily = 'ipv4'): NeighValues {
  const out = {} as NeighValues
  for (const k of NEIGH_KEYS) out[k] = Number(readFileSync(join(PROC[family], k), 'utf8').trim())
  return out
}

function writeNeigh(v: Partial<NeighValues>, family: NeighFamily): void {
  // raise thresh3 first and lower it last, so thresh1 <= thresh2 <= thresh3 holds at every step
  const current = readNeigh(family)
  const raising = (v.gc_thresh3 ?? current.gc_thresh3) >= current.gc_thresh3
  const order: NeighKey[] = raising ? ['gc_thresh3', 'gc_thresh2', 'gc_thresh1'] : ['gc_thresh1', 'gc_thresh2', 'gc_thresh3']
  for (const k of order) if (v[k] !== undefined) writeFileSync(join(PROC[family], k), `${v[k]}\n`)
}

/** Which limits are below what `nodes` addresses need ([] when none). */
export function neighShortfall(nodes: number, current: NeighValues = readNeigh()): { key: NeighKey; current: number; needed: number }[] {
  const req = neighRequired(nodes)
  // only the hard limit makes a lab fail; the soft ones are raised along with it
  if (current.gc_thresh3 >= neighEntriesFor(nodes)) return []
  return NEIGH_KEYS.filter((k) => current[k] < req[k]).map((k) => ({ key: k, current: current[k], needed: req[k] }))
}

export interface NeighRecord {
  /** IPv4: the values found before any lab raised them (absent: no lab raised IPv4's) */
  original?: NeighValues
  /** IPv4: the values the labs wrote */
  written?: NeighValues
  /** IPv6's table, the same way (absent: no lab raised IPv6's) */
  ipv6?: { original: NeighValues; written: NeighValues }
  /** lab name -> number of underlay addresses it needs */
  labs: Record<string, number>
}

function recorded(rec: NeighRecord, family: NeighFamily): { original: NeighValues; written: NeighValues } | undefined {
  if (family === 'ipv6') return rec.ipv6
  return rec.original && rec.written ? { original: rec.original, written: rec.written } : undefined
}

function setRecorded(rec: NeighRecord, family: NeighFamily, v: { original: NeighValues; written: NeighValues }): void {
  if (family === 'ipv6') rec.ipv6 = v
  else {
    rec.original = v.original
    rec.written = v.written
  }
}

export function recordFile(root: string): string {
  return join(root, 'neigh-sysctl.json')
}

export function readRecord(root: string): NeighRecord | undefined {
  const f = recordFile(root)
  if (!existsSync(f)) return undefined
  try {
    return JSON.parse(readFileSync(f, 'utf8')) as NeighRecord
  } catch {
    return undefined
  }
}

async function withLock<T>(root: string, fn: () => T): Promise<T> {
  mkdirSync(root, { recursive: true, mode: 0o700 })
  const lock = join(root, '.neigh.lock')
  const end = Date.now() + 10_000
  for (;;) {
    try {
      mkdirSync(lock)
      break
    } catch {
      if (Date.now() > end) rmSync(lock, { recursive: true, force: true }) // a holder that crashed
      await sleep(20)
    }
  }
  try {
    return fn()
  } finally {
    rmSync(lock, { recursive: true, force: true })
  }
}

export class NeighLimitError extends Error {}

/**
 * Makes sure the neighbour tables of these families (default IPv4's alone;
 * a dual-stack lab both) hold `nodes` lab addresses. Raises the limits
 * (recording the old ones) unless `allowRaise` is false, in which case it
 * throws a NeighLimitError naming each sysctl and the value needed, before
 * writing anything. Returns the changes made (empty when none were needed).
 */
export async function ensureNeigh(root: string, lab: string, nodes: number, allowRaise: boolean, families: NeighFamily[] = ['ipv4']): Promise<{ key: NeighKey; from: number; to: number; family: NeighFamily }[]> {
  return withLock(root, () => {
    const found = families.map((family) => {
      const current = readNeigh(family)
      return { family, current, short: neighShortfall(nodes, current) }
    })
    const short = found.flatMap((f) => f.short.map((s) => ({ ...s, family: f.family })))
    const rec = readRecord(root)
    if (short.length === 0) {
      // another lab raised them: hold on to them until this lab is down too
      if (rec) {
        rec.labs[lab] = nodes
        writeFileSync(recordFile(root), `${JSON.stringify(rec, null, 2)}\n`)
      }
      return []
    }
    if (!allowRaise) {
      const list = short.map((s) => `${sysctlName(s.key, s.family)}=${s.needed} (now ${s.current})`).join(', ')
      throw new NeighLimitError(`the kernel's neighbour table is too small for a lab of ${nodes} hosts: it needs ${list}; set them with \`sysctl -w ${short.map((s) => `${sysctlName(s.key, s.family)}=${s.needed}`).join(' ')}\` or run without --no-sysctl to let the lab raise them for its run`)
    }
    const next: NeighRecord = rec ?? { labs: {} }
    for (const f of found) {
      if (f.short.length === 0) continue
      const target = { ...f.current }
      for (const s of f.short) target[s.key] = s.needed
      writeNeigh(target, f.family)
      setRecorded(next, f.family, { original: recorded(next, f.family)?.original ?? f.current, written: target })
    }
    next.labs[lab] = nodes
    writeFileSync(recordFile(root), `${JSON.stringify(next, null, 2)}\n`)
    return short.map((s) => ({ key: s.key, from: s.current, to: s.needed, family: s.family }))
  })
}

/**
 * Drops `lab`'s claim (and those of labs that no longer exist, by
 * `exists`); when no claim is left, puts back the recorded values, each
 * only if it still holds what the labs wrote.
 */
export async function releaseNeigh(root: string, lab: string, exists: (name: string) => boolean): Promise<{ restored: { key: NeighKey; to: number; family: NeighFamily }[] }> {
  return withLock(root, () => {
    const rec = readRecord(root)
    if (!rec) return { restored: [] }
    delete rec.labs[lab]
    for (const name of Object.keys(rec.labs)) if (!exists(name)) delete rec.labs[name]
    if (Object.keys(rec.labs).length > 0) {
      writeFileSync(recordFile(root), `${JSON.stringify(rec, null, 2)}\n`)
      return { restored: [] }
    }
    const restored: { key: NeighKey; to: number; family: NeighFamily }[] = []
    for (const family of ['ipv4', 'ipv6'] as const) {
      const r = recorded(rec, family)
      if (!r) continue
      const current = readNeigh(family)
      const back: Partial<NeighValues> = {}
      for (const k of NEIGH_KEYS) {
        if (current[k] === r.written[k] && current[k] !== r.original[k]) {
          back[k] = r.original[k]
          restored.push({ key: k, to: r.original[k], family })
        }
      }
      writeNeigh(back, family)
    }
    rmSync(recordFile(root), { force: true })
    return { restored }
  })
}

/** Lab names that hold a claim in the record (for `lab down --all`). */
export function claimedLabs(root: string): string[] {
  return Object.keys(readRecord(root)?.labs ?? {})
}

