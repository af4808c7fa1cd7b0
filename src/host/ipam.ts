/**
 * Automatic subnet allocation (`--pool` + `--host-prefix`, no `--subnet`):
 * the pool is cut into 2^(host-prefix - pool length) subnets; this host starts
 * at a slot derived from a hash of its identity (machine id + underlay
 * address, so hosts sharing one machine id, like network namespaces or cloned
 * VMs, still differ) and takes the first slot from there that no known host
 * uses. The choice is persisted in the state dir (ipam.json) and kept across
 * restarts as long as it is still valid and free.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { containsPrefix, formatAddress, formatPrefix, overlaps, parsePrefix, type Prefix, prefix } from '../net/ipv4.js'
import { requireCjs } from '../util/cjs.js'
import { isoTime } from '../util/time.js'

export const IPAM_FILE = 'ipam.json'

export interface PickInput {
  pool: Prefix
  hostPrefix: number
  /** subnets already in use (other hosts, learned routes) */
  taken: Prefix[]
  /** stable identity of this host; the starting slot is derived from it */
  identity: string
  /** a subnet chosen earlier (persisted); kept when still valid and free */
  previous?: Prefix
  /** tried after `previous`, before the hashed slot (a network's subnet: the default subnet's slot) */
  preferred?: Prefix
}

export type PickResult = { ok: true; subnet: Prefix; reason: 'previous' | 'preferred' | 'hashed' | 'probed' } | { ok: false; error: string }

/** Pure choice of this host's subnet. */
export function pickSubnet(input: PickInput): PickResult {
  const { pool, hostPrefix, taken } = input
  if (hostPrefix < pool.len || hostPrefix > 30) return { ok: false, error: `host-prefix /${hostPrefix}: expected a length between the pool's /${pool.len} and /30` }
  const free = (p: Prefix): boolean => !taken.some((t) => overlaps(t, p))
  const prev = input.previous
  if (prev && prev.len === hostPrefix && containsPrefix(pool, prev) && free(prev)) return { ok: true, subnet: prev, reason: 'previous' }
  const pref = input.preferred
  if (pref && pref.len === hostPrefix && containsPrefix(pool, pref) && free(pref)) return { ok: true, subnet: pref, reason: 'preferred' }
  const bits = hostPrefix - pool.len
  const count = 2 ** bits
  const start = count === 1 ? 0 : hashSlot(input.identity, count)
  const size = 2 ** (32 - hostPrefix)
  for (let k = 0; k < count; k++) {
    const slot = (start + k) % count
    const p = prefix((pool.addr + slot * size) >>> 0, hostPrefix)
    if (free(p)) return { ok: true, subnet: p, reason: k === 0 ? 'hashed' : 'probed' }
  }
  return { ok: false, error: `no free /${hostPrefix} left in the pool ${formatPrefix(pool)} (${taken.length} subnets in use)` }
}

/** A slot in [0, count) from the identity's SHA-256. */
export function hashSlot(identity: string, count: number): number {
  // node:crypto is loaded here, on first use: an agent whose subnet is configured or persisted never holds it (~0.45 MB, bench/rss)
  const { createHash } = requireCjs('node:crypto') as typeof import('node:crypto')
  const h = createHash('sha256').update(identity).digest()
  // 48 bits are plenty for any pool (at most 2^22 /30s in a /8)
  const n = h.readUIntBE(0, 6)
  return n % count
}

/** This host's identity: /etc/machine-id (else the hostname) plus its underlay address. */
export function hostIdentity(address: number, read: (path: string) => string | undefined = readText): string {
  const id = read('/etc/machine-id')?.trim() || read('/var/lib/dbus/machine-id')?.trim() || hostname()
  return `${id}/${formatAddress(address)}`
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

export interface IpamState {
  pool: string
  hostPrefix: number
  subnet: string
  identity: string
  chosen: string
}

export function readIpamState(stateDir: string): IpamState | undefined {
  const text = readText(join(stateDir, IPAM_FILE))
  if (text === undefined) return undefined
  try {
    const s = JSON.parse(text) as IpamState
    return typeof s.subnet === 'string' ? s : undefined
  } catch {
    return undefined
  }
}

export function writeIpamState(stateDir: string, state: IpamState): void {
  mkdirSync(stateDir, { recursive: true })
  const file = join(stateDir, IPAM_FILE)
  writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`)
  renameSync(`${file}.tmp`, file)
}

export interface AllocateInput {
  pool: Prefix
  hostPrefix: number
  taken: Prefix[]
  address: number
  stateDir: string
  identity?: string
  /** see PickInput.preferred */
  preferred?: Prefix
}

/** Picks (or keeps) this host's subnet and persists it. */
export function allocateSubnet(input: AllocateInput): PickResult & { identity?: string } {
  const identity = input.identity ?? hostIdentity(input.address)
  const state = readIpamState(input.stateDir)
  const prevParsed = state ? parsePrefix(state.subnet) : undefined
  const previous = prevParsed?.ok ? prevParsed.value : undefined
  const r = pickSubnet({ pool: input.pool, hostPrefix: input.hostPrefix, taken: input.taken, identity, previous, preferred: input.preferred })
  if (!r.ok) return r
  if (!state || state.subnet !== formatPrefix(r.subnet) || state.pool !== formatPrefix(input.pool)) {
    writeIpamState(input.stateDir, {
      pool: formatPrefix(input.pool), hostPrefix: input.hostPrefix, subnet: formatPrefix(r.subnet), identity, chosen: isoTime(),
    })
  }
  return { ...r, identity }
}
