import test from 'ava'
import { MAX_MESSAGE_LENGTH, MessageType, decodeMessage, encodeMessage, makeNotification } from '../../../../src/protocols/bgp/codec/index.js'

test('a NOTIFICATION whose data does not fit one message is sent with the data cut to fit, never thrown', (t) => {
  // e.g. Optional Attribute Error quoting a 4,100-octet attribute received in an extended message
  const msg = makeNotification(3, 9, Buffer.alloc(4100, 0xab))
  const bytes = encodeMessage(msg, { as4: true })
  t.is(bytes.length, MAX_MESSAGE_LENGTH)
  t.is(bytes[18], MessageType.NOTIFICATION)
  const back = decodeMessage(bytes, { as4: true })
  if (!back.ok) return t.fail(back.error.message)
  if (back.value.type !== 'notification') return t.fail(back.value.type)
  t.is(back.value.code, 3)
  t.is(back.value.subcode, 9)
  t.is(back.value.data.length, MAX_MESSAGE_LENGTH - 21)
})

test('a NOTIFICATION that fits is unchanged', (t) => {
  const msg = makeNotification(6, 2, Buffer.from('bye'))
  const back = decodeMessage(encodeMessage(msg, { as4: true }), { as4: true })
  t.true(back.ok && back.value.type === 'notification' && back.value.data.toString() === 'bye')
})
