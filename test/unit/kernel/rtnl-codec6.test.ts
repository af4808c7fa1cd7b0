/**
 * IPv6 rtnetlink messages both ways. The fixtures are payloads the kernel
 * (6.x) dumped in a test namespace (test/netns/rtnl-probe.ts capture6) after:
 *   ip addr add fd00:99::1/64 dev up0 nodad     (up0 index 3, MAC 02:00:00:00:00:01)
 *   ip -6 route add fd00:fab:2::/64 via fd00:99::2 proto 233 metric 1024
 *   ip -6 route add fd00:fab:3::/64 via fe80::2 dev up0 proto 233 metric 1100
 *   ip -6 route add fd00:fab:4::/64 via fd00:99::3 proto static
 */
import test from 'ava'
import {
  AF_INET6, NLM_F, RTM, decodeAddress6, decodeMessages, decodeRoute, decodeRoute6, encodeDumpRequest, encodeRoute6, route6EncodingLength,
} from '../../../src/kernel/rtnl-codec.js'

const hex = (s: string): Buffer => Buffer.from(s, 'hex')
// every dumped route ends in RTA_CACHEINFO and RTA_PREF, which fabric skips
const TAIL = '24000c0000000000000000000000000000000000000000000000000000000000000000000500140000000000'

const ROUTES = [
  {
    name: 'fabric route via a global next hop (metric 1024)',
    bytes: hex(`0a400000fee900010000000008000f00fe00000014000100fd000fab000200000000000000000000080006000004000014000500fd000099000000000000000000000002080004000300000024000c0000000000000000000000000000000000000000000000000000000000000000000500140000000000`),
    route: { prefix: { addr: 'fd00:fab:2::', len: 64 }, table: 254, protocol: 233, scope: 0, type: 1, metric: 1024, gateway: 'fd00:99::2', oif: 3 },
  },
  {
    name: 'fabric route via a link-local next hop with its interface (metric 1100)',
    bytes: hex(`0a400000fee900010000000008000f00fe00000014000100fd000fab000300000000000000000000080006004c04000014000500fe800000000000000000000000000002080004000300000024000c0000000000000000000000000000000000000000000000000000000000000000000500140000000000`),
    route: { prefix: { addr: 'fd00:fab:3::', len: 64 }, table: 254, protocol: 233, scope: 0, type: 1, metric: 1100, gateway: 'fe80::2', oif: 3 },
  },
  {
    name: 'proto static route added without a metric gets 1024',
    bytes: hex(`0a400000fe0400010000000008000f00fe00000014000100fd000fab000400000000000000000000080006000004000014000500fd000099000000000000000000000003080004000300000024000c0000000000000000000000000000000000000000000000000000000000000000000500140000000000`),
    route: { prefix: { addr: 'fd00:fab:4::', len: 64 }, table: 254, protocol: 4, scope: 0, type: 1, metric: 1024, gateway: 'fd00:99::3', oif: 3 },
  },
  {
    name: 'connected prefix (proto kernel, metric 256, no gateway)',
    bytes: hex(`0a400000fe0200010000000008000f00fe00000014000100fd0000990000000000000000000000000800060000010000080004000300000024000c0000000000000000000000000000000000000000000000000000000000000000000500140000000000`),
    route: { prefix: { addr: 'fd00:99::', len: 64 }, table: 254, protocol: 2, scope: 0, type: 1, metric: 256, gateway: undefined, oif: 3 },
  },
  {
    name: 'local table: own address (type local, /128, metric 0)',
    bytes: hex(`0a800000ff0200020000000008000f00ff00000014000100fd0000990000000000000000000000010800060000000000080004000300000024000c0000000000000000000000000000000000000000000000000000000000000000000500140000000000`),
    route: { prefix: { addr: 'fd00:99::1', len: 128 }, table: 255, protocol: 2, scope: 0, type: 2, metric: 0, gateway: undefined, oif: 3 },
  },
  {
    name: 'local table: ff00::/8 multicast',
    bytes: hex(`0a080000ff0200050000000008000f00ff00000014000100ff0000000000000000000000000000000800060000010000080004000200000024000c0000000000000000000000000000000000000000000000000000000000000000000500140000000000`),
    route: { prefix: { addr: 'ff00::', len: 8 }, table: 255, protocol: 2, scope: 0, type: 5, metric: 256, gateway: undefined, oif: 2 },
  },
]

for (const c of ROUTES) {
  test(`decode6: ${c.name}`, (t) => {
    t.true(c.bytes.toString('hex').endsWith(TAIL))
    const r = decodeRoute6(c.bytes)
    t.true(r.ok)
    t.deepEqual(r.ok && r.value, c.route)
    // and the IPv4 decoder leaves it alone
    const v4 = decodeRoute(c.bytes)
    t.true(v4.ok && v4.value === undefined)
  })
}

/** The attributes of a route payload as type -> hex value. */
function attrsOf(payload: Buffer): Map<number, string> {
  const m = new Map<number, string>()
  for (let o = 12; o + 4 <= payload.length;) {
    const len = payload.readUInt16LE(o)
    m.set(payload.readUInt16LE(o + 2), payload.subarray(o + 4, o + len).toString('hex'))
    o += (len + 3) & ~3
  }
  return m
}

for (const c of ROUTES.slice(0, 3)) {
  test(`encode6: ${c.name}: the attributes fabric writes are the kernel's own bytes`, (t) => {
    const spec = { prefix: c.route.prefix, table: 254, protocol: c.route.protocol, metric: c.route.metric, gateway: c.route.gateway, oif: c.route.oif }
    const buf = encodeRoute6({ type: RTM.NEWROUTE, flags: NLM_F.REQUEST | NLM_F.CREATE | NLM_F.EXCL, seq: 9 }, spec)
    t.is(buf.length, route6EncodingLength(spec))
    t.is(buf.readUInt32LE(0), buf.length)
    const payload = buf.subarray(16)
    // rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type: as the kernel's
    t.deepEqual([...payload.subarray(0, 8)], [...c.bytes.subarray(0, 8)])
    const mine = attrsOf(payload)
    const kernel = attrsOf(c.bytes)
    t.deepEqual([...mine.keys()].sort(), [1, 4, 5, 6]) // DST, OIF, GATEWAY, PRIORITY
    for (const [type, value] of mine) t.is(value, kernel.get(type) ?? "", `attribute ${type}`)
    const back = decodeRoute6(payload)
    t.deepEqual(back.ok && back.value, c.route)
  })
}

test('encode6: ::/0 has no RTA_DST, tables above 255 carry RTA_TABLE, deletes keep scope universe', (t) => {
  const spec = { prefix: { addr: '::', len: 0 }, table: 1000, protocol: 233, metric: 1024, gateway: 'fe80::1', oif: 7 }
  const buf = encodeRoute6({ type: RTM.DELROUTE, flags: NLM_F.REQUEST, seq: 1 }, spec)
  const p = buf.subarray(16)
  t.is(p[4], 252)
  t.is(p[6], 0)
  t.false(attrsOf(p).has(1))
  t.true(attrsOf(p).has(15))
  const r = decodeRoute6(p)
  t.deepEqual(r.ok && r.value, { prefix: { addr: '::', len: 0 }, table: 1000, protocol: 233, scope: 0, type: 1, metric: 1024, gateway: 'fe80::1', oif: 7 })
  t.throws(() => encodeRoute6({ type: RTM.NEWROUTE, flags: 0, seq: 1 }, { ...spec, gateway: 'nope' }), { instanceOf: RangeError })
})

test('decode6: wrong lengths, host bits and short structs are typed rtnl DecodeErrors', (t) => {
  const good = ROUTES[0]!.bytes
  const reason = (b: Buffer): string | undefined => {
    const r = decodeRoute6(b)
    if (r.ok) return undefined
    t.is(r.error.codec, 'rtnl')
    return r.error.reason
  }
  t.is(reason(good.subarray(0, 11)), 'short-struct')
  const len = Buffer.from(good); len[1] = 129
  t.is(reason(len), 'bad-prefix-length')
  const dst = Buffer.from(good); dst.writeUInt16LE(8, 20) // RTA_DST of 4 octets
  t.is(reason(dst), 'bad-attribute')
  const short = Buffer.from(good); short.writeUInt16LE(9, 48) // RTA_GATEWAY (at 48) claims 9 octets
  t.is(reason(short), 'bad-attribute')
  const hostBits = Buffer.from(good); hostBits[1] = 16 // fd00:fab:2::/16 has host bits
  t.is(reason(hostBits), 'bad-attribute')
  const over = Buffer.from(good); over.writeUInt16LE(400, 12)
  t.is(reason(over), 'bad-attribute')
  const noDst = Buffer.from(good); noDst.writeUInt16LE(0x7ffe, 22)
  t.is(reason(noDst), 'bad-attribute')
  const v4 = Buffer.from(good); v4[0] = 2
  const r = decodeRoute6(v4)
  t.true(r.ok && r.value === undefined)
})

const ADDRS = [
  {
    name: 'link-local address of up1 (index 2, permanent)',
    bytes: hex('0a4080fd0200000014000100fe80000000000000000000fffe00000214000600ffffffffffffffff0b6504000b650400080008008000000005000b0003000000'),
    addr: { index: 2, address: 'fe80::ff:fe00:2', prefixLen: 64, scope: 253, flags: 0x80 },
  },
  {
    name: 'global address added nodad (index 3, IFA_FLAGS 0x82)',
    bytes: hex('0a4082000300000014000100fd00009900000000000000000000000114000600ffffffffffffffff04650400046504000800080082000000'),
    addr: { index: 3, address: 'fd00:99::1', prefixLen: 64, scope: 0, flags: 0x82 },
  },
]

for (const c of ADDRS) {
  test(`decodeAddress6: ${c.name}`, (t) => {
    const r = decodeAddress6(c.bytes)
    t.deepEqual(r.ok && r.value, c.addr)
  })
}

test('decodeAddress6: refusals', (t) => {
  const b = ADDRS[1]!.bytes
  t.false(decodeAddress6(b.subarray(0, 7)).ok)
  const len = Buffer.from(b); len[1] = 200
  t.false(decodeAddress6(len).ok)
  const a = Buffer.from(b); a.writeUInt16LE(8, 8)
  t.false(decodeAddress6(a).ok)
  const v4 = Buffer.from(b); v4[0] = 2
  const r = decodeAddress6(v4)
  t.true(r.ok && r.value === undefined)
})

test('IPv6 dump requests name AF_INET6; link dumps stay family 0', (t) => {
  t.is(encodeDumpRequest(RTM.GETROUTE, 1, AF_INET6)[16], 10)
  t.is(encodeDumpRequest(RTM.GETADDR, 1, AF_INET6)[16], 10)
  t.is(encodeDumpRequest(RTM.GETLINK, 1, AF_INET6)[16], 0)
  const m = decodeMessages(encodeDumpRequest(RTM.GETROUTE, 5, AF_INET6))
  t.true(m.ok && m.value[0]!.seq === 5)
})
