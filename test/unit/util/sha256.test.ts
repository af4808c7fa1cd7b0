import { createHash } from 'node:crypto'
import test from 'ava'
import { sha256 } from '../../../src/util/sha256.js'

test('sha256: the FIPS 180-4 examples', (t) => {
  t.is(sha256('abc').toString('hex'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  t.is(sha256('').toString('hex'), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
  t.is(sha256('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq').toString('hex'), '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1')
})

test('sha256: the same digest as node:crypto for every length around the block boundaries, and for UTF-8 text', (t) => {
  for (let n = 0; n <= 200; n++) {
    const data = Buffer.alloc(n, n % 251)
    for (let i = 0; i < n; i++) data[i] = (i * 31 + n) & 255
    t.is(sha256(data).toString('hex'), createHash('sha256').update(data).digest('hex'), `length ${n}`)
  }
  const id = 'c0ffee0123456789abcdef0123456789/10.99.0.11 ünïcødé'
  t.is(sha256(id).toString('hex'), createHash('sha256').update(id).digest('hex'))
})
