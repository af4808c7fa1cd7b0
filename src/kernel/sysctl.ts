/** IPv4 and IPv6 sysctls fabric reads and sets, through /proc/sys of the current network namespace. */
import { readFileSync, writeFileSync } from 'node:fs'

const base = '/proc/sys/net/ipv4'

export function readSysctl(path: string): string | undefined {
  try {
    return readFileSync(`${base}/${path}`, 'utf8').trim()
  } catch {
    return undefined
  }
}

/** Enables IPv4 forwarding; returns whether it had to change it. */
export function enableIpForwarding(): boolean {
  if (readSysctl('ip_forward') === '1') return false
  writeFileSync(`${base}/ip_forward`, '1\n')
  return true
}

/**
 * rp_filter of an interface as the kernel applies it: max(all, iface).
 * 1 = strict, which drops routed traffic arriving on an interface the
 * reverse route does not point to.
 */
export function effectiveRpFilter(iface: string): number | undefined {
  const all = Number(readSysctl('conf/all/rp_filter') ?? NaN)
  const dev = Number(readSysctl(`conf/${iface}/rp_filter`) ?? NaN)
  if (Number.isNaN(all) && Number.isNaN(dev)) return undefined
  return Math.max(Number.isNaN(all) ? 0 : all, Number.isNaN(dev) ? 0 : dev)
}

// ---- IPv6 -----------------------------------------------------------------------

const PROC_SYS = '/proc/sys'

/** An IPv6 sysctl under net/ipv6 (`conf/all/forwarding`); undefined when absent (IPv6 disabled, no such interface). */
export function readSysctl6(path: string, root = PROC_SYS): string | undefined {
  try {
    return readFileSync(`${root}/net/ipv6/${path}`, 'utf8').trim()
  } catch {
    return undefined
  }
}

/**
 * Enables IPv6 forwarding (net.ipv6.conf.all.forwarding = 1, which the
 * kernel copies to every interface); returns whether it had to change it.
 * Throws naming the path when the kernel has no IPv6 (ipv6.disable=1).
 *
 * Side effect: an interface with forwarding on ignores Router
 * Advertisements unless its accept_ra is 2, so an underlay configured by
 * SLAAC/RAs loses its default route and addresses when they expire; see
 * raIgnored().
 */
export function enableIpv6Forwarding(root = PROC_SYS): boolean {
  const path = `${root}/net/ipv6/conf/all/forwarding`
  const now = readSysctl6('conf/all/forwarding', root)
  if (now === undefined) throw new Error(`${path} is missing: the kernel has no IPv6 (booted with ipv6.disable=1?)`)
  if (now === '1') return false
  writeFileSync(path, '1\n')
  return true
}

/** net.ipv6.conf.IFACE.accept_ra (0: never, 1: only when not forwarding, 2: also when forwarding); undefined when absent. */
export function readAcceptRa(iface: string, root = PROC_SYS): number | undefined {
  const v = readSysctl6(`conf/${iface}/accept_ra`, root)
  const n = v === undefined ? NaN : Number(v)
  return Number.isInteger(n) ? n : undefined
}

export interface RaState {
  iface: string
  acceptRa: number | undefined
  /** net.ipv6.conf.IFACE.forwarding */
  forwarding: boolean
  /** the kernel drops RAs on this interface (accept_ra 1 with forwarding on, or 0) */
  ignored: boolean
}

/**
 * Whether the interface still takes Router Advertisements (doctor warns
 * when fabric's forwarding made it stop: the fix is `accept_ra = 2`).
 * undefined when the interface has no IPv6 sysctls.
 */
export function raIgnored(iface: string, root = PROC_SYS): RaState | undefined {
  const acceptRa = readAcceptRa(iface, root)
  const fwd = readSysctl6(`conf/${iface}/forwarding`, root)
  if (acceptRa === undefined && fwd === undefined) return undefined
  const forwarding = fwd === '1'
  const ignored = acceptRa === undefined || acceptRa === 0 || (acceptRa === 1 && forwarding)
  return { iface, acceptRa, forwarding, ignored }
}
