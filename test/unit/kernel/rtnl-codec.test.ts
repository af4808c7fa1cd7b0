import test from 'ava'
import { NLM_F, RTM, decodeAck, decodeAddress, decodeLink, decodeMessages, decodeRoute, encodeDumpRequest, encodeRoute, routeEncodingLength } from '../../../src/kernel/rtnl-codec.js'

const spec = { prefix: { addr: 0x0af40200, len: 24 }, table: 254, protocol: 233, metric: 20, gateway: 0x0a63000c }

test('route message encodes as the kernel expects (header, rtmsg, attributes)', (t) => {
  const buf = encodeRoute({ type: RTM.NEWROUTE, flags: NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL, seq: 7 }, spec)
  t.is(buf.readUInt32LE(0), buf.length)
  t.is(buf.readUInt16LE(4), RTM.NEWROUTE)
  t.is(buf.readUInt16LE(6), 0x605)
  t.is(buf.readUInt32LE(8), 7)
  // rtmsg: family 2, dst_len 24, table 254, protocol 233, scope universe, type unicast
  t.deepEqual([...buf.subarray(16, 24)], [2, 24, 0, 0, 254, 233, 0, 1])
  // RTA_DST in network order
  t.deepEqual([...buf.subarray(28, 36)], [8, 0, 1, 0, 10, 244, 2, 0])
})

test('an encoded route decodes back (kernel dump format)', (t) => {
  const buf = encodeRoute({ type: RTM.NEWROUTE, flags: 0, seq: 1 }, spec)
  const msgs = decodeMessages(buf)
  t.true(msgs.ok)
  if (!msgs.ok) return
  const r = decodeRoute(msgs.value[0]!.payload)
  t.true(r.ok)
  if (!r.ok) return
  t.deepEqual(r.value, { prefix: { addr: 0x0af40200, len: 24 }, table: 254, protocol: 233, scope: 0, type: 1, metric: 20, gateway: 0x0a63000c, oif: undefined })
})

test('delete messages use scope nowhere so any scope matches', (t) => {
  const buf = encodeRoute({ type: RTM.DELROUTE, flags: NLM_F.REQUEST, seq: 1 }, spec)
  t.is(buf[16 + 6], 0xff)
})

test('several messages in one datagram are split; truncated ones refused', (t) => {
  const a = encodeRoute({ type: RTM.NEWROUTE, flags: 0, seq: 1 }, spec)
  const b = encodeRoute({ type: RTM.NEWROUTE, flags: 0, seq: 2 }, { ...spec, metric: undefined })
  const both = Buffer.concat([a, b])
  const r = decodeMessages(both)
  t.true(r.ok && r.value.length === 2 && r.value[1]!.seq === 2)
  const bad = decodeMessages(both.subarray(0, both.length - 4))
  t.false(bad.ok)
  const lying = Buffer.from(a)
  lying.writeUInt32LE(4096, 0)
  t.false(decodeMessages(lying).ok)
})

test('attribute overruns and short structs are typed errors', (t) => {
  const payload = encodeRoute({ type: RTM.NEWROUTE, flags: 0, seq: 1 }, spec).subarray(16)
  const broken = Buffer.from(payload)
  broken.writeUInt16LE(200, 12) // first attribute claims 200 bytes
  const r = decodeRoute(broken)
  t.false(r.ok)
  t.false(decodeRoute(Buffer.alloc(5)).ok)
  const v6 = Buffer.from(payload)
  v6[0] = 10 // AF_INET6: not ours, skipped
  const r6 = decodeRoute(v6)
  t.true(r6.ok && r6.value === undefined)
})

test('error/ack messages decode errno and the original sequence', (t) => {
  const p = Buffer.alloc(4 + 16)
  p.writeInt32LE(-17, 0)
  p.writeUInt32LE(42, 12)
  const r = decodeAck(p)
  t.deepEqual(r.ok && r.value, { errno: 17, seq: 42 })
  t.false(decodeAck(Buffer.alloc(3)).ok)
})

test('dump requests carry the DUMP flag', (t) => {
  const d = encodeDumpRequest(RTM.GETROUTE, 9)
  t.is(d.readUInt16LE(6), NLM_F.REQUEST | NLM_F.DUMP)
  t.is(d[16], 2)
})

test('routeEncodingLength is what encodeRoute writes; tables above 255 add RTA_TABLE', (t) => {
  t.is(encodeRoute({ type: RTM.NEWROUTE, flags: 0, seq: 1 }, spec).length, routeEncodingLength(spec))
  const big = { ...spec, table: 1000 }
  const buf = encodeRoute({ type: RTM.NEWROUTE, flags: 0, seq: 1 }, big)
  t.is(buf.length, routeEncodingLength(big))
  const r = decodeRoute(buf.subarray(16))
  t.true(r.ok && r.value?.table === 1000)
})

test('route attributes of the wrong length are typed rtnl DecodeErrors, not zeros', (t) => {
  const payload = Buffer.from(encodeRoute({ type: RTM.NEWROUTE, flags: 0, seq: 1 }, spec).subarray(16))
  // RTA_DST claims 6 octets (the attribute after it absorbs the rest)
  payload.writeUInt16LE(6, 12)
  const r = decodeRoute(payload)
  t.false(r.ok)
  if (!r.ok) {
    t.is(r.error.codec, 'rtnl')
    t.is(r.error.reason, 'bad-attribute')
  }
  // a /24 without RTA_DST
  const noDst = Buffer.from(encodeRoute({ type: RTM.NEWROUTE, flags: 0, seq: 1 }, spec).subarray(16))
  noDst.writeUInt16LE(0x7fff, 14) // type of the RTA_DST attribute: unknown
  const n = decodeRoute(noDst)
  t.false(n.ok)
  const tooLong = Buffer.from(payload)
  tooLong[1] = 33
  const l = decodeRoute(tooLong)
  t.true(!l.ok && l.error.reason === 'bad-prefix-length')
})

test('address and link messages decode; short or overrunning ones are refused', (t) => {
  // ifaddrmsg: family 2, prefixlen 24, flags 0, scope 0, index 3; IFA_LOCAL 10.0.0.1; IFA_LABEL "up0"
  const addr = Buffer.concat([
    Buffer.from([2, 24, 0, 0]), Buffer.from(new Uint32Array([3]).buffer),
    Buffer.from([8, 0, 2, 0, 10, 0, 0, 1]), Buffer.from([8, 0, 3, 0, 0x75, 0x70, 0x30, 0]),
  ])
  const a = decodeAddress(addr)
  t.deepEqual(a.ok && a.value, { index: 3, address: 0x0a000001, prefixLen: 24, scope: 0, label: 'up0' })
  t.false(decodeAddress(addr.subarray(0, 7)).ok)
  const badLen = Buffer.from(addr)
  badLen[1] = 40
  t.false(decodeAddress(badLen).ok)
  // ifinfomsg (16 octets): index 3, flags UP; IFLA_IFNAME "up0", IFLA_MTU 1500
  const info = Buffer.alloc(16)
  info.writeInt32LE(3, 4)
  info.writeUInt32LE(1, 8)
  const mtu = Buffer.alloc(8)
  mtu.writeUInt16LE(8, 0); mtu.writeUInt16LE(4, 2); mtu.writeUInt32LE(1500, 4)
  const link = Buffer.concat([info, Buffer.from([8, 0, 3, 0, 0x75, 0x70, 0x30, 0]), mtu])
  const l = decodeLink(link)
  t.deepEqual(l.ok && l.value, { index: 3, flags: 1, name: 'up0', mtu: 1500, master: undefined })
  const over = Buffer.from(link)
  over.writeUInt16LE(64, 16)
  t.false(decodeLink(over).ok)
  t.false(decodeLink(Buffer.alloc(15)).ok)
})
