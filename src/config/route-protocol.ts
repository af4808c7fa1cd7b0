/**
 * The kernel route protocol number fabric tags its routes with. fabric only
 * ever changes routes that carry this number, so it must not be one another
 * routing daemon uses.
 */
export const DEFAULT_ROUTE_PROTOCOL = 233
export const ROUTE_PROTOCOL_NAME = 'fabric'

/** Numbers owned by the kernel or other well-known daemons: never ours. */
export const RESERVED_ROUTE_PROTOCOLS: ReadonlyMap<number, string> = new Map([
  [0, 'unspec'], [1, 'redirect'], [2, 'kernel'], [3, 'boot'], [4, 'static'],
  [8, 'gated'], [9, 'ra'], [10, 'mrt'], [11, 'zebra (FRR)'], [12, 'bird'],
  [13, 'dnrouted'], [14, 'xorp'], [15, 'ntk'], [16, 'dhcp'], [17, 'kube-router'],
  [18, 'keepalived'], [42, 'babel'], [99, 'openr'], [186, 'bgp (FRR)'], [187, 'isis (FRR)'],
  [188, 'ospf (FRR)'], [189, 'rip (FRR)'], [190, 'ripng (FRR)'], [191, 'nhrp (FRR)'], [192, 'eigrp (FRR)'],
])

/** Parses `fabric` or a number; returns the number or a reason. */
export function parseRouteProtocol(text: string): { ok: true; value: number } | { ok: false; error: string } {
  const t = text.trim()
  if (t === ROUTE_PROTOCOL_NAME) return { ok: true, value: DEFAULT_ROUTE_PROTOCOL }
  if (!/^\d{1,3}$/.test(t)) return { ok: false, error: `expected "${ROUTE_PROTOCOL_NAME}" or a number 1..255` }
  const n = Number(t)
  if (n < 1 || n > 255) return { ok: false, error: 'expected a number 1..255' }
  const owner = RESERVED_ROUTE_PROTOCOLS.get(n)
  if (owner !== undefined) return { ok: false, error: `protocol ${n} belongs to ${owner}; fabric would manage its routes. Use "${ROUTE_PROTOCOL_NAME}" (${DEFAULT_ROUTE_PROTOCOL}) or another free number` }
  return { ok: true, value: n }
}
