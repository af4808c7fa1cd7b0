import test from 'ava'
import { decodeMessage, isTreatAsWithdraw, type CodecContext, type UpdateMessage } from '../../../../src/protocols/bgp/codec/index.js'
import { hex, msg } from './helpers.js'

const as4: CodecContext = { as4: true }

const MARKER = 'ffffffffffffffffffffffffffffffff'

/** bytes -> NOTIFICATION code/subcode (session reset) */
const fatal: Array<{ name: string; bytes: Buffer; code: number; subcode: number; data?: string; ctx?: CodecContext }> = [
  { name: 'marker not all ones', bytes: hex('ffffffffffffffffffffffffffffff00 0013 04'), code: 1, subcode: 1 },
  { name: 'length field 18', bytes: hex(`${MARKER} 0012 04 00`).subarray(0, 19), code: 1, subcode: 2, data: '0012' },
  { name: 'length 4097', bytes: Buffer.concat([hex(`${MARKER} 1001 02`), Buffer.alloc(4078)]), code: 1, subcode: 2, data: '1001' },
  { name: 'length field differs from buffer', bytes: hex(`${MARKER} 0014 04 00`).subarray(0, 19), code: 1, subcode: 2, data: '0014' },
  { name: 'shorter than a header', bytes: hex(`${MARKER} 00`), code: 1, subcode: 2 },
  { name: 'unknown type 9', bytes: hex(`${MARKER} 0013 09`), code: 1, subcode: 3, data: '09' },
  { name: 'KEEPALIVE with a body', bytes: msg(4, '00'), code: 1, subcode: 2, data: '0014' },
  { name: 'OPEN shorter than 29', bytes: msg(1, '04 fde9 0009 0a000001'), code: 1, subcode: 2, data: '001c' },
  { name: 'UPDATE shorter than 23', bytes: msg(2, '0000'), code: 1, subcode: 2, data: '0015' },
  { name: 'NOTIFICATION shorter than 21', bytes: msg(3, '06'), code: 1, subcode: 2, data: '0014' },
  { name: 'OPEN version 3', bytes: msg(1, '03 fde9 0009 0a000001 00'), code: 2, subcode: 1, data: '0004' },
  { name: 'OPEN hold time 1', bytes: msg(1, '04 fde9 0001 0a000001 00'), code: 2, subcode: 6 },
  { name: 'OPEN hold time 2', bytes: msg(1, '04 fde9 0002 0a000001 00'), code: 2, subcode: 6 },
  { name: 'OPEN BGP identifier 0', bytes: msg(1, '04 fde9 0009 00000000 00'), code: 2, subcode: 3 },
  { name: 'OPEN unsupported optional parameter (authentication)', bytes: msg(1, '04 fde9 0009 0a000001 03 01 01 00'), code: 2, subcode: 4, data: '010100' },
  { name: 'OPEN optional parameters length too long', bytes: msg(1, '04 fde9 0009 0a000001 05 02 02 0200'), code: 2, subcode: 0 },
  { name: 'OPEN optional parameters length too short', bytes: msg(1, '04 fde9 0009 0a000001 02 02 02 0200'), code: 2, subcode: 0 },
  { name: 'OPEN capability overruns its parameter', bytes: msg(1, '04 fde9 0009 0a000001 04 02 02 0104'), code: 2, subcode: 0 },
  { name: 'OPEN malformed 4-octet AS capability', bytes: msg(1, '04 fde9 0009 0a000001 05 02 03 410100'), code: 2, subcode: 0 },
  { name: 'OPEN malformed multiprotocol capability', bytes: msg(1, '04 fde9 0009 0a000001 05 02 03 010100'), code: 2, subcode: 0 },
  { name: 'OPEN malformed graceful restart capability', bytes: msg(1, '04 fde9 0009 0a000001 05 02 03 400100'), code: 2, subcode: 0 },
  { name: 'OPEN truncated extended parameters', bytes: msg(1, '04 fde9 0009 0a000001 ff ff 00'), code: 2, subcode: 0 },
  { name: 'UPDATE withdrawn length overruns', bytes: msg(2, '0010 0000'), code: 3, subcode: 1 },
  { name: 'UPDATE total attribute length overruns', bytes: msg(2, '0000 0010 40010100'), code: 3, subcode: 1 },
  { name: 'UPDATE withdrawn prefix /33', bytes: msg(2, '0005 210a000001 0000'), code: 3, subcode: 10 },
  { name: 'UPDATE NLRI /33', bytes: msg(2, '0000 0000 210a000001 00'), code: 3, subcode: 10 },
  { name: 'UPDATE NLRI truncated prefix', bytes: msg(2, '0000 0000 180a01'), code: 3, subcode: 10 },
  { name: 'UPDATE unrecognized well-known attribute', bytes: msg(2, '0000 0004 40630100'), code: 3, subcode: 2, data: '40630100' },
  { name: 'UPDATE MP_REACH_NLRI twice', bytes: msg(2, '0000 000c 800f03000201 800f03000201'), code: 3, subcode: 1 },
  { name: 'UPDATE MP_REACH_NLRI IPv6 next hop length 8', bytes: msg(2, '0000 0010 800e0d 000201 08 0000000000000001 00'), code: 3, subcode: 9 },
  { name: 'UPDATE MP_REACH_NLRI next hop overruns', bytes: msg(2, '0000 0008 800e05 000201 10 00'), code: 3, subcode: 9 },
  { name: 'UPDATE MP_REACH_NLRI shorter than 5', bytes: msg(2, '0000 0006 800e03 000201'), code: 3, subcode: 9, data: '800e03000201' },
  { name: 'UPDATE MP_REACH_NLRI IPv6 prefix /129', bytes: msg(2, '0000 0019 800e16 000201 10 20010db8000000000000000000000001 00 81'), code: 3, subcode: 9 },
  { name: 'UPDATE MP_UNREACH_NLRI shorter than 3', bytes: msg(2, '0000 0005 800f02 0002'), code: 3, subcode: 9 },
  { name: 'UPDATE MP_UNREACH_NLRI truncated prefix', bytes: msg(2, '0000 0008 800f05 000101 180a'), code: 3, subcode: 9 },
  { name: 'UPDATE MP_REACH_NLRI with wrong flags', bytes: msg(2, '0000 0006 400f03000201'), code: 3, subcode: 4, data: '400f03000201' },
  { name: 'UPDATE MP_UNREACH_NLRI with wrong flags, extended length: the whole attribute as data', bytes: msg(2, '0000 000a 700f0006 000101 180a01'), code: 3, subcode: 4, data: '700f0006000101180a01' },
  { name: 'ROUTE-REFRESH length 24', bytes: msg(5, '0001 00 01 00'), code: 7, subcode: 1 },
  { name: 'ROUTE-REFRESH length 19', bytes: msg(5, ''), code: 7, subcode: 1 },
]

for (const c of fatal) {
  test(`decode error ${c.code}/${c.subcode}: ${c.name}`, (t) => {
    const r = decodeMessage(c.bytes, c.ctx ?? as4)
    if (r.ok) return t.fail(`decoded: ${JSON.stringify(r.value).slice(0, 300)}`)
    t.is(r.error.codec, 'bgp')
    t.regex(r.error.reason, /^[a-z-]+\/[a-z0-9-]+$/)
    t.deepEqual([r.error.code, r.error.subcode], [c.code, c.subcode], r.error.message)
    if (c.data !== undefined) t.is(r.error.data.toString('hex'), c.data)
    t.true(r.error.message.length > 0)
  })
}

const BASE = '40010100 40020602010000fde9 4003040a000001' // 4 + 9 + 7 = 20 octets
const NLRI = '180a0100'

function update(attrs: string, nlri = NLRI): Buffer {
  const a = hex(attrs)
  const head = Buffer.alloc(4)
  head.writeUInt16BE(a.length, 2)
  return msg(2, Buffer.concat([head, a, hex(nlri)]))
}

/** RFC 7606 outcomes: bytes -> action, attribute kept or not */
const soft: Array<{ name: string; bytes: Buffer; action: 'treat-as-withdraw' | 'attribute-discard'; subcode: number; attrType: number; kept: string[] }> = [
  { name: 'ORIGIN length 2', bytes: update('40010200 00 40020602010000fde9 4003040a000001'), action: 'treat-as-withdraw', subcode: 5, attrType: 1, kept: ['asPath', 'nextHop'] },
  { name: 'ORIGIN value 3', bytes: update('40010103 40020602010000fde9 4003040a000001'), action: 'treat-as-withdraw', subcode: 6, attrType: 1, kept: ['asPath', 'nextHop'] },
  { name: 'AS_PATH segment of length 0', bytes: update('40010100 4002020200 4003040a000001'), action: 'treat-as-withdraw', subcode: 11, attrType: 2, kept: ['origin', 'nextHop'] },
  { name: 'AS_PATH segment overrun', bytes: update('40010100 4002060203 0000fde9 4003040a000001'), action: 'treat-as-withdraw', subcode: 11, attrType: 2, kept: ['origin', 'nextHop'] },
  { name: 'AS_PATH unknown segment type', bytes: update('40010100 40020605010000fde9 4003040a000001'), action: 'treat-as-withdraw', subcode: 11, attrType: 2, kept: ['origin', 'nextHop'] },
  { name: 'AS_PATH single trailing octet', bytes: update('40010100 40020702010000fde902 4003040a000001'), action: 'treat-as-withdraw', subcode: 11, attrType: 2, kept: ['origin', 'nextHop'] },
  { name: 'AS_PATH optional flag', bytes: update('40010100 c0020602010000fde9 4003040a000001'), action: 'treat-as-withdraw', subcode: 4, attrType: 2, kept: ['origin', 'nextHop'] },
  { name: 'NEXT_HOP length 5', bytes: update('40010100 40020602010000fde9 4003050a00000100'), action: 'treat-as-withdraw', subcode: 5, attrType: 3, kept: ['origin', 'asPath'] },
  { name: 'NEXT_HOP 0.0.0.0', bytes: update('40010100 40020602010000fde9 40030400000000'), action: 'treat-as-withdraw', subcode: 8, attrType: 3, kept: ['origin', 'asPath'] },
  { name: 'NEXT_HOP multicast', bytes: update('40010100 40020602010000fde9 400304e0000001'), action: 'treat-as-withdraw', subcode: 8, attrType: 3, kept: ['origin', 'asPath'] },
  { name: 'MED length 3', bytes: update(`${BASE} 800403000064`), action: 'treat-as-withdraw', subcode: 5, attrType: 4, kept: ['origin', 'asPath', 'nextHop'] },
  { name: 'LOCAL_PREF length 2', bytes: update(`${BASE} 4005020064`), action: 'treat-as-withdraw', subcode: 5, attrType: 5, kept: ['origin', 'asPath', 'nextHop'] },
  { name: 'LOCAL_PREF optional flag', bytes: update(`${BASE} 80050400000064`), action: 'treat-as-withdraw', subcode: 4, attrType: 5, kept: ['origin', 'asPath', 'nextHop'] },
  { name: 'COMMUNITIES length 3', bytes: update(`${BASE} c00803000001`), action: 'treat-as-withdraw', subcode: 5, attrType: 8, kept: ['origin', 'asPath', 'nextHop'] },
  { name: 'COMMUNITIES length 0', bytes: update(`${BASE} c00800`), action: 'treat-as-withdraw', subcode: 5, attrType: 8, kept: ['origin', 'asPath', 'nextHop'] },
  { name: 'ORIGINATOR_ID length 3', bytes: update(`${BASE} 800903000001`), action: 'treat-as-withdraw', subcode: 5, attrType: 9, kept: ['origin', 'asPath', 'nextHop'] },
  { name: 'CLUSTER_LIST length 0', bytes: update(`${BASE} 800a00`), action: 'treat-as-withdraw', subcode: 5, attrType: 10, kept: ['origin', 'asPath', 'nextHop'] },
  { name: 'CLUSTER_LIST length 6', bytes: update(`${BASE} 800a06000000010000`), action: 'treat-as-withdraw', subcode: 5, attrType: 10, kept: ['origin', 'asPath', 'nextHop'] },
  { name: 'ATOMIC_AGGREGATE length 1', bytes: update(`${BASE} 40060100`), action: 'attribute-discard', subcode: 5, attrType: 6, kept: ['origin', 'asPath', 'nextHop'] },
  { name: 'AGGREGATOR length 6 on a 4-octet session', bytes: update(`${BASE} c00706fde90a000001`), action: 'attribute-discard', subcode: 5, attrType: 7, kept: ['origin', 'asPath', 'nextHop'] },
  { name: 'AGGREGATOR without transitive flag', bytes: update(`${BASE} 8007080000fde90a000001`), action: 'attribute-discard', subcode: 4, attrType: 7, kept: ['origin', 'asPath', 'nextHop'] },
  { name: 'duplicate ORIGIN: first kept', bytes: update(`${BASE} 40010102`), action: 'attribute-discard', subcode: 1, attrType: 1, kept: ['origin', 'asPath', 'nextHop'] },
  { name: 'missing NEXT_HOP with NLRI', bytes: update('40010100 40020602010000fde9'), action: 'treat-as-withdraw', subcode: 3, attrType: 3, kept: ['origin', 'asPath'] },
  { name: 'missing ORIGIN with NLRI', bytes: update('40020602010000fde9 4003040a000001'), action: 'treat-as-withdraw', subcode: 3, attrType: 1, kept: ['asPath', 'nextHop'] },
  { name: 'missing AS_PATH with MP_REACH_NLRI only', bytes: update('40010100 800e0d 0001 01 04 0a000001 00 180a0100', ''), action: 'treat-as-withdraw', subcode: 3, attrType: 2, kept: ['origin', 'mpReach'] },
  { name: 'attribute length overruns the attribute section', bytes: update(`${BASE} 80040800000064`), action: 'treat-as-withdraw', subcode: 5, attrType: 4, kept: ['origin', 'asPath', 'nextHop'] },
  { name: 'two octets left after the last attribute', bytes: update(`${BASE} 8004`), action: 'treat-as-withdraw', subcode: 1, attrType: 0, kept: ['origin', 'asPath', 'nextHop'] },
  { name: 'extended length header truncated', bytes: update(`${BASE} 900400`), action: 'treat-as-withdraw', subcode: 1, attrType: 0, kept: ['origin', 'asPath', 'nextHop'] },
]

for (const c of soft) {
  test(`RFC 7606 ${c.action}: ${c.name}`, (t) => {
    const r = decodeMessage(c.bytes, as4)
    if (!r.ok) return t.fail(`${r.error.code}/${r.error.subcode}: ${r.error.message}`)
    const u = r.value as UpdateMessage
    t.is(u.type, 'update')
    t.is(u.errors?.length, 1, JSON.stringify(u.errors))
    const e = u.errors![0]!
    t.deepEqual([e.action, e.subcode, e.attrType], [c.action, c.subcode, c.attrType], e.message)
    t.deepEqual(u.attributes.map((a) => a.type), c.kept)
    t.is(isTreatAsWithdraw(u), c.action === 'treat-as-withdraw')
    t.true(u.nlri.length > 0 || u.attributes.some((a) => a.type === 'mpReach'))
  })
}

test('RFC 7606: unknown optional non-transitive attribute is dropped silently', (t) => {
  const r = decodeMessage(update(`${BASE} 8063020102`), as4)
  if (!r.ok) return t.fail(r.error.message)
  const u = r.value as UpdateMessage
  t.is(u.errors, undefined)
  t.deepEqual(u.attributes.map((a) => a.type), ['origin', 'asPath', 'nextHop'])
})

test('RFC 7606: unknown optional transitive attribute is kept with the Partial bit', (t) => {
  const r = decodeMessage(update(`${BASE} c0630101`), as4)
  if (!r.ok) return t.fail(r.error.message)
  const u = r.value as UpdateMessage
  t.deepEqual(u.attributes[3], { type: 'unknown', code: 0x63, flags: 0xe0, data: Buffer.from([1]) })
})

test('RFC 6793: AS4_PATH from a 4-octet speaker is discarded', (t) => {
  const r = decodeMessage(update(`${BASE} c011060201fa56ea00`), as4)
  if (!r.ok) return t.fail(r.error.message)
  const u = r.value as UpdateMessage
  t.deepEqual(u.attributes.map((a) => a.type), ['origin', 'asPath', 'nextHop'])
  t.is(u.errors?.[0]?.action, 'attribute-discard')
})

test('RFC 6793: malformed AS4_PATH on a 2-octet session is discarded', (t) => {
  const r = decodeMessage(update('40010100 4002040201fde9 4003040a000001 c011030201fa'), { as4: false })
  if (!r.ok) return t.fail(r.error.message)
  const u = r.value as UpdateMessage
  t.deepEqual(u.attributes.map((a) => a.type), ['origin', 'asPath', 'nextHop'])
  t.deepEqual(u.errors?.map((e) => [e.action, e.attrType]), [['attribute-discard', 17]])
})

test('RFC 7606: withdraw-only UPDATE with a bad attribute still withdraws', (t) => {
  const r = decodeMessage(msg(2, '0003 100a09 0004 40010103'), as4)
  if (!r.ok) return t.fail(r.error.message)
  const u = r.value as UpdateMessage
  t.is(u.withdrawn.length, 1)
  t.is(u.errors?.[0]?.action, 'treat-as-withdraw')
})

test('length 4097 is accepted once extended messages are negotiated', (t) => {
  const body = Buffer.concat([hex('0000 0000'), Buffer.alloc(4074, 0)])
  const bytes = msg(2, body)
  t.is(bytes.length, 4097)
  t.false(decodeMessage(bytes, as4).ok)
  const r = decodeMessage(bytes, { as4: true, extendedMessage: true })
  t.true(r.ok)
})
