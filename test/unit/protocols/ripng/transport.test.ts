/**
 * RipngTransport.open() against the kernel, without sending anything: a
 * link-local address that cannot be bound (not there, or still tentative
 * during duplicate address detection) is retried for bindWaitMs, then
 * refused with a message that names the address and the likely cause.
 */
import test from 'ava'
import { RipngTransport } from '../../../../src/protocols/ripng/transport.js'

test('an unbindable link-local address is retried for bindWaitMs, then refused naming it', async (t) => {
  // lo has no fe80:: address: bind() gives EADDRNOTAVAIL, as for a tentative address
  const tr = new RipngTransport({ linkLocal: 'fe80::dead:beef', interface: 'lo', port: 52100, onDatagram: () => {}, bindWaitMs: 700 })
  const started = Date.now()
  const e = await t.throwsAsync(() => tr.open())
  const took = Date.now() - started
  t.regex(e!.message, /cannot bind UDP \[fe80::dead:beef%lo\]:52100 for RIPng: EADDRNOTAVAIL \(the link-local address is not usable: duplicate address detection still running or failed\?\)/)
  t.true(took >= 600, `gave up after ${took} ms, expected the 700 ms wait`)
  await tr.close()
})

test('with bindWaitMs 0 the refusal is immediate', async (t) => {
  const tr = new RipngTransport({ linkLocal: 'fe80::dead:beef', interface: 'lo', port: 52101, onDatagram: () => {}, bindWaitMs: 0 })
  const started = Date.now()
  await t.throwsAsync(() => tr.open(), { message: /EADDRNOTAVAIL/ })
  t.true(Date.now() - started < 500)
  await tr.close()
})
