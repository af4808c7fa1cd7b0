import test from 'ava'
import { isoTime } from '../../../src/util/time.js'

test('isoTime gives what Date.prototype.toISOString gives: epoch, leap days, centuries, millisecond edges, negative times, years 0-9999', (t) => {
  const fixed = [0, 1, 999, 1000, -1, -86_400_000, 951_782_400_000, 951_868_799_999, 4_107_542_400_000, 1_798_761_599_999, 253_402_300_799_999, -62_167_219_200_000, 1_234_567_890_123.7]
  for (const ms of fixed) t.is(isoTime(ms), new Date(ms).toISOString(), String(ms))
  // a seeded walk over the whole range
  let x = 12345
  for (let i = 0; i < 20_000; i++) {
    x = (x * 1103515245 + 12345) % 2147483648
    const ms = Math.floor((x / 2147483648) * (253_402_300_800_000 + 62_167_219_200_000)) - 62_167_219_200_000
    if (isoTime(ms) !== new Date(ms).toISOString()) return t.fail(`${ms}: ${isoTime(ms)} != ${new Date(ms).toISOString()}`)
  }
  t.is(isoTime(1_700_000_000_000), '2023-11-14T22:13:20.000Z')
  t.throws(() => isoTime(Number.NaN), { instanceOf: RangeError })
})
