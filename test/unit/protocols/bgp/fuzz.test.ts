/**
 * Seeded fuzzing of the decoder and the framer: mutated real messages and
 * random bytes must only ever produce ok or a BgpDecodeError.
 */
import { isDeepStrictEqual } from 'node:util'
import test from 'ava'
import { isDecodeError } from '../../../../src/core/codec.js'
import { notificationReason } from '../../../../src/protocols/bgp/codec/errors.js'
import { createFramer, decodeMessage, encodeMessage, isBgpDecodeError, type CodecContext, type Message } from '../../../../src/protocols/bgp/codec/index.js'
import { loadFixtures } from './fixtures.js'
import { hex, msg, rng } from './helpers.js'

const SEEDS: Buffer[] = [
  hex('ffffffffffffffffffffffffffffffff 0013 04'),
  msg(1, '04 5ba0 00b4 c0000201 31 0206010400010001 02020200 02028000 02024600 02020600 02064104fa56ea00 02084006c07800010180 020549036162 63'),
  msg(1, '04 fde9 0009 0a000001 ff ff 000b 02 0008 010400020001 0200'),
  msg(2, '0000 0026 40010100 40020a02020000fde90000fdea 4003040a000001 80040400000064 40050400000064 180a0100 100a02 200a030405 00'),
  msg(2, `0005 100a63080b 0055 40010101 4002 16 03010000fde8 02010000fde9 01020000fdea0000fdeb 400304c0000201 400600
    c007080000fde9c0000201 c00808fde90064ffffff01 8009040a000009 800a080a0000010a000002 e06303010203 18c63364`),
  msg(2, '0000 0035 40010102 400206 0202 5ba0fde9 4003040a000002 c007065ba00a000002 c0110a0202fa56ea000000fde9 c01208fa56ea000a000002 180a0100'),
  msg(2, `0000 0046 40010100 40020602010000fde9 900e0035 0002 01 20 20010db8000000000000000000000001 fe800000000000000000000000000001 00
    40 20010db800010000 30 20010db80002`),
  msg(2, '0000 000f 800f0c 000201 40 20010db800010000'),
  msg(3, '0602 0b 6d61696e74656e616e6365'),
  msg(5, '0001 00 01'),
]

const fixtureSeeds = loadFixtures().flatMap((f) => f.messages.map((m) => hex(m.hex)))
const seeds = [...SEEDS, ...fixtureSeeds]
const contexts: CodecContext[] = [{ as4: true }, { as4: false }, { as4: true, extendedMessage: true }]

function mutate(r: () => number, src: Buffer): Buffer {
  const int = (n: number) => Math.floor(r() * n)
  let b = Buffer.from(src)
  const rounds = 1 + int(4)
  for (let k = 0; k < rounds; k++) {
    switch (int(7)) {
      case 0: // bit flip past the marker (mostly)
        if (b.length > 0) { const i = r() < 0.9 && b.length > 16 ? 16 + int(b.length - 16) : int(b.length); b[i] = b[i]! ^ (1 << int(8)) }
        break
      case 1: // random byte
        if (b.length > 0) b[int(b.length)] = int(256)
        break
      case 2: // truncate, keeping the header length field consistent half the time
        b = b.subarray(0, int(b.length + 1))
        if (b.length >= 19 && r() < 0.5) b.writeUInt16BE(b.length, 16)
        break
      case 3: { // insert bytes
        const at = int(b.length + 1)
        const ins = Buffer.from(Array.from({ length: 1 + int(8) }, () => int(256)))
        b = Buffer.concat([b.subarray(0, at), ins, b.subarray(at)])
        if (b.length >= 19 && r() < 0.7) b.writeUInt16BE(Math.min(b.length, 0xffff), 16)
        break
      }
      case 4: // edit a length-looking field inside the body
        if (b.length > 21) { const i = 19 + int(b.length - 20); b[i] = [0, 1, 2, 3, 4, 0x7f, 0x80, 0xfe, 0xff][int(9)]! }
        break
      case 5: // header length field edit
        if (b.length >= 19) b.writeUInt16BE([0, 18, 19, 23, 29, 4096, 4097, 65535, b.length - 1, b.length + 1][int(10)]! & 0xffff, 16)
        break
      default: // delete a byte range
        if (b.length > 20) { const at = 19 + int(b.length - 19); const n = 1 + int(6); b = Buffer.concat([b.subarray(0, at), b.subarray(at + n)]); if (r() < 0.7) b.writeUInt16BE(b.length, 16) }
    }
  }
  return b
}

/** NOTIFICATION code -> subcodes a decoder may answer with (RFC 4271 6.1-6.3, RFC 7606, RFC 5492, RFC 7313). */
const ALLOWED_ERRORS: Record<number, readonly number[]> = {
  1: [1, 2, 3],
  2: [0, 1, 2, 3, 4, 6, 7],
  3: [1, 2, 3, 4, 5, 6, 8, 9, 10, 11],
  7: [1],
}

function randomMessage(r: () => number): Buffer {
  const len = Math.floor(r() * 64)
  const body = Buffer.from(Array.from({ length: len }, () => Math.floor(r() * 256)))
  return r() < 0.5 ? body : msg(1 + Math.floor(r() * 6), body)
}

test('fuzz: decodeMessage never throws on mutated and random input', (t) => {
  const r = rng(0xb9b)
  let ok = 0
  let errors = 0
  let roundTrips = 0
  const ITER = 120_000
  for (let i = 0; i < ITER; i++) {
    const input = i % 5 === 4 ? randomMessage(r) : mutate(r, seeds[Math.floor(r() * seeds.length)]!)
    const ctx = contexts[i % contexts.length]!
    let result: ReturnType<typeof decodeMessage>
    try {
      result = decodeMessage(input, ctx)
    } catch (e) {
      return t.fail(`threw on ${input.toString('hex')}: ${String(e)}`)
    }
    if (result.ok) {
      ok++
      // what decodes re-encodes (or refuses with a RangeError naming the field) and decodes to the same value
      let bytes: Buffer
      try {
        bytes = encodeMessage(result.value as Message, ctx)
      } catch (e) {
        if (!(e instanceof RangeError)) return t.fail(`encode threw on ${input.toString('hex')}: ${String(e)}`)
        continue
      }
      const again = decodeMessage(bytes, ctx)
      if (!again.ok) return t.fail(`re-encoded ${input.toString('hex')} does not decode: ${again.error.message}`)
      const { errors: _e1, ...first } = result.value as Message & { errors?: unknown }
      const { errors: _e2, ...second } = again.value as Message & { errors?: unknown }
      if (!isDeepStrictEqual(first, second)) return t.fail(`round trip changed ${input.toString('hex')}: ${JSON.stringify(first)} vs ${JSON.stringify(second)}`)
      roundTrips++
    } else {
      errors++
      const e = result.error
      // a typed DecodeError carrying a NOTIFICATION code/subcode RFC 4271 (and 7606, 7313) defines
      if (!isBgpDecodeError(e) || !isDecodeError(e) || e.codec !== 'bgp') return t.fail(`bad error shape for ${input.toString('hex')}: ${JSON.stringify(e)}`)
      const allowed = ALLOWED_ERRORS[e.code]
      if (!allowed?.includes(e.subcode)) return t.fail(`NOTIFICATION ${e.code}/${e.subcode} not defined for decode errors (${input.toString('hex')}: ${e.message})`)
      if (e.reason !== notificationReason(e.code, e.subcode)) return t.fail(`reason ${e.reason} for ${e.code}/${e.subcode}`)
      if (e.message.startsWith('internal decoder error')) return t.fail(`decoder bug on ${input.toString('hex')}: ${e.message}`)
    }
  }
  t.true(roundTrips > 1000, `roundTrips=${roundTrips}`)
  t.true(ok > 1000, `ok=${ok}`)
  t.true(errors > 1000, `errors=${errors}`)
})

test('fuzz: framer never throws and never holds more than one message', (t) => {
  const r = rng(42)
  for (let run = 0; run < 2000; run++) {
    const f = createFramer({ extendedMessage: run % 2 === 0 })
    const parts: Buffer[] = []
    const n = 1 + Math.floor(r() * 6)
    let clean = true
    for (let i = 0; i < n; i++) {
      const seed = seeds[Math.floor(r() * seeds.length)]!
      if (r() < 0.8) parts.push(seed)
      else { parts.push(mutate(r, seed)); clean = false }
    }
    const stream = Buffer.concat(parts)
    let pos = 0
    let count = 0
    while (pos < stream.length) {
      const step = 1 + Math.floor(r() * 64)
      let res: ReturnType<typeof f.push>
      try {
        res = f.push(stream.subarray(pos, pos + step))
      } catch (e) {
        return t.fail(`framer threw: ${String(e)}`)
      }
      count += res.messages.length
      for (const m of res.messages) {
        if (m.length < 19 || m.length !== m.readUInt16BE(16)) return t.fail('framer returned a malformed frame')
      }
      if (res.error && !isBgpDecodeError(res.error)) return t.fail('framer error shape')
      if (f.buffered() > 65535) return t.fail(`framer holds ${f.buffered()} octets`)
      pos += step
    }
    if (clean && count !== n) return t.fail(`framer returned ${count} of ${n} intact messages`)
  }
  t.pass()
})
