/**
 * Automatic IPv6 subnet allocation (pool6 + host-prefix6, no subnet6 given;
 * modes rip and bgp): the IPv6 counterpart of ipam.ts. pool6 is cut into
 * 2^(host-prefix6 - pool6 length) subnets (up to 2^112, so slots are
 * BigInts). The host tries, in order: the subnet it chose before (persisted
 * in STATE_DIR/ipam6.json), the slot of its IPv4 subnet in the IPv4 pool
 * (10.244.3.0/24 -> fd00:fab:0:3::/64, so both families read alike), then a
 * slot hashed from its identity (machine id + underlay address, as for
 * IPv4) and the slots after it. Subnets in use ([host.*] subnet6, subnets
 * learned from the fabric) are avoided.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Prefix6, bytesOf6, containsPrefix6, formatIpv6, formatPrefix6, overlaps6, parsePrefix6 } from '../net/ipv6.js'
import { requireCjs } from '../util/cjs.js'
import { isoTime } from '../util/time.js'

export const IPAM6_FILE = 'ipam6.json'

/** Slots probed after the hashed one before giving up (the taken list is small; a huge pool6 is never scanned whole). */
const MAX_PROBES = 1 << 16

export interface PickInput6 {
  pool6: Prefix6
  hostPrefix6: number
  taken: readonly Prefix6[]
  identity: string
  previous?: Prefix6
  /** the slot tried after `previous` (the IPv4 subnet's slot) */
  preferredSlot?: number
}

export type PickResult6 = { ok: true; subnet: Prefix6; reason: 'previous' | 'preferred' | 'hashed' | 'probed' } | { ok: false; error: string }

function toBig(bytes: Uint8Array): bigint {
  let n = 0n
  for (const b of bytes) n = (n << 8n) | BigInt(b)
  return n
}

function fromBig(n: bigint): Buffer {
  const out = Buffer.alloc(16)
  let v = n
  for (let i = 15; i >= 0; i--) {
    out[i] = Number(v & 0xffn)
    v >>= 8n
  }
  return out
}

/** The subnet in slot `slot` (0-based) of pool6 with host-prefix6. */
export function slotSubnet6(pool6: Prefix6, hostPrefix6: number, slot: bigint): Prefix6 {
  const base = toBig(bytesOf6(pool6.addr))
  return { addr: formatIpv6(fromBig(base + (slot << BigInt(128 - hostPrefix6)))), len: hostPrefix6 }
}

/** A slot in [0, count) from the identity's SHA-256. */
export function hashSlot6(identity: string, count: bigint): bigint {
  // node:crypto is loaded here, on first use: an agent whose subnet is configured or persisted never holds it (~0.45 MB, bench/rss)
  const { createHash } = requireCjs('node:crypto') as typeof import('node:crypto')
  const h = createHash('sha256').update(identity).digest()
  return toBig(h.subarray(0, 16)) % count
}

/** Pure choice of this host's IPv6 subnet. */
export function pickSubnet6(input: PickInput6): PickResult6 {
  const { pool6, hostPrefix6, taken } = input
  if (hostPrefix6 < pool6.len || hostPrefix6 > 128) return { ok: false, error: `host-prefix6 /${hostPrefix6}: expected a length between pool6's /${pool6.len} and /128` }
  const free = (p: Prefix6): boolean => !taken.some((t) => overlaps6(t, p))
  const fits = (p: Prefix6): boolean => p.len === hostPrefix6 && containsPrefix6(pool6, p)
  const prev = input.previous
  if (prev && fits(prev) && free(prev)) return { ok: true, subnet: prev, reason: 'previous' }
  const count = 1n << BigInt(hostPrefix6 - pool6.len)
  if (input.preferredSlot !== undefined && BigInt(input.preferredSlot) < count) {
    const p = slotSubnet6(pool6, hostPrefix6, BigInt(input.preferredSlot))
    if (free(p)) return { ok: true, subnet: p, reason: 'preferred' }
  }
  const start = count === 1n ? 0n : hashSlot6(input.identity, count)
  const probes = count < BigInt(MAX_PROBES) ? count : BigInt(MAX_PROBES)
  for (let k = 0n; k < probes; k++) {
    const p = slotSubnet6(pool6, hostPrefix6, (start + k) % count)
    if (free(p)) return { ok: true, subnet: p, reason: k === 0n ? 'hashed' : 'probed' }
  }
  return { ok: false, error: `no free /${hostPrefix6} found in pool6 ${formatPrefix6(pool6)} (${taken.length} subnets in use)` }
}

export interface IpamState6 {
  pool6: string
  hostPrefix6: number
  subnet6: string
  identity: string
  chosen: string
}

export function readIpamState6(stateDir: string): IpamState6 | undefined {
  let text: string
  try {
    text = readFileSync(join(stateDir, IPAM6_FILE), 'utf8')
  } catch {
    return undefined
  }
  try {
    const s = JSON.parse(text) as IpamState6
    return s !== null && typeof s === 'object' && typeof s.subnet6 === 'string' ? s : undefined
  } catch {
    return undefined
  }
}

/** The IPv6 subnet chosen earlier (ipam6.json), if any and valid. */
export function persistedSubnet6(stateDir: string): Prefix6 | undefined {
  const s = readIpamState6(stateDir)
  if (!s) return undefined
  const p = parsePrefix6(s.subnet6)
  return p.ok ? p.value : undefined
}

function writeIpamState6(stateDir: string, state: IpamState6): void {
  mkdirSync(stateDir, { recursive: true })
  const file = join(stateDir, IPAM6_FILE)
  writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`)
  renameSync(`${file}.tmp`, file)
}

/** Picks (or keeps) this host's IPv6 subnet and persists it. */
export function allocateSubnet6(input: Omit<PickInput6, 'previous'> & { stateDir: string }): PickResult6 {
  const state = readIpamState6(input.stateDir)
  const prev = state ? parsePrefix6(state.subnet6) : undefined
  const r = pickSubnet6({ ...input, previous: prev?.ok ? prev.value : undefined })
  if (!r.ok) return r
  const subnet6 = formatPrefix6(r.subnet)
  if (!state || state.subnet6 !== subnet6 || state.pool6 !== formatPrefix6(input.pool6)) {
    writeIpamState6(input.stateDir, { pool6: formatPrefix6(input.pool6), hostPrefix6: input.hostPrefix6, subnet6, identity: input.identity, chosen: isoTime() })
  }
  return r
}
