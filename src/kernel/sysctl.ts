/** IPv4 sysctls fabric reads and sets, through /proc/sys of the current network namespace. */
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
