/** Shared test helpers: IPv4 prefixes and addresses from text, throwing on a typo in the test itself. */
import { type Prefix, parseAddress, parsePrefix } from '../../src/net/ipv4.js'
import { type Prefix6, parsePrefix6 } from '../../src/net/ipv6.js'

/** "10.244.1.0/24" -> Prefix (host bits must be zero) */
export function P(text: string): Prefix {
  const r = parsePrefix(text)
  if (!r.ok) throw new Error(r.error)
  return r.value
}

/** "172.30.0.11" -> uint32 address */
export function A(text: string): number {
  const r = parseAddress(text)
  if (!r.ok) throw new Error(r.error)
  return r.value
}

/** "fd00:fab:0:1::/64" -> Prefix6 (host bits must be zero) */
export function P6(text: string): Prefix6 {
  const r = parsePrefix6(text)
  if (!r.ok) throw new Error(r.error)
  return r.value
}
