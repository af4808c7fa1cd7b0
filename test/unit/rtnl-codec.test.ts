import test from 'ava'
import { NLM_F, RTM, decodeError, decodeRoute, encodeDump, encodeRoute, splitMessages } from '../../src/kernel/rtnl-codec.js'

const spec = { prefix: { addr: 0x0af40200, len: 24 }, table: 254, protocol: 233, metric: 20, gateway: 0x0a63000c }

test('route message encodes as the kernel expects (header, rtmsg, attributes)', (t) => {
  const buf = encodeRoute(RTM.NEWROUTE, NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL, 7, spec)
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
  const buf = encodeRoute(RTM.NEWROUTE, 0, 1, spec)
  const msgs = splitMessages(buf)
  t.true(msgs.ok)
  if (!msgs.ok) return
  const r = decodeRoute(msgs.value[0]!.payload)
  t.true(r.ok)
  if (!r.ok) return
  t.deepEqual(r.value, { prefix: { addr: 0x0af40200, len: 24 }, table: 254, protocol: 233, scope: 0, type: 1, metric: 20, gateway: 0x0a63000c, oif: undefined })
})

test('delete messages use scope nowhere so any scope matches', (t) => {
  const buf = encodeRoute(RTM.DELROUTE, NLM_F.REQUEST, 1, spec)
  t.is(buf[16 + 6], 0xff)
})

test('several messages in one datagram are split; truncated ones refused', (t) => {
  const a = encodeRoute(RTM.NEWROUTE, 0, 1, spec)
  const b = encodeRoute(RTM.NEWROUTE, 0, 2, { ...spec, metric: undefined })
  const both = Buffer.concat([a, b])
  const r = splitMessages(both)
  t.true(r.ok && r.value.length === 2 && r.value[1]!.seq === 2)
  const bad = splitMessages(both.subarray(0, both.length - 4))
  t.false(bad.ok)
  const lying = Buffer.from(a)
  lying.writeUInt32LE(4096, 0)
  t.false(splitMessages(lying).ok)
})

test('attribute overruns and short structs are typed errors', (t) => {
  const payload = encodeRoute(RTM.NEWROUTE, 0, 1, spec).subarray(16)
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
  const r = decodeError(p)
  t.deepEqual(r.ok && r.value, { errno: 17, seq: 42 })
  t.false(decodeError(Buffer.alloc(3)).ok)
})

test('dump requests carry the DUMP flag', (t) => {
  const d = encodeDump(RTM.GETROUTE, 9)
  t.is(d.readUInt16LE(6), NLM_F.REQUEST | NLM_F.DUMP)
  t.is(d[16], 2)
})
