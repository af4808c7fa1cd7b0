import test from 'ava'
import { parseIni } from '../../../src/config/ini.js'

test('sections and entries keep their line numbers; inline comments are stripped, values trimmed', (t) => {
  const { doc, errors } = parseIni('; head\n[fabric]\npool = 10.0.0.0/8 ; c\n\n[host.a]\n  address=1.2.3.4 # c\nsubnet = a;b\n', 'f.ini')
  t.deepEqual(errors, [])
  t.deepEqual(doc.sections.map((s) => [s.name, s.line, [...s.entries].map(([k, e]) => [k, e.value, e.line])]), [
    ['fabric', 2, [['pool', '10.0.0.0/8', 3]]],
    ['host.a', 5, [['address', '1.2.3.4', 6], ['subnet', 'a;b', 7]]],
  ])
})

test('what conf-cfg-ini would accept silently is refused: bare words, __proto__, odd headers, empty keys and values', (t) => {
  const { doc, errors } = parseIni('[fabric]\nverbose\n__proto__ = 1\n[a]b]\n= 3\n[rip]\nauth =\n[x\n', 'f.ini')
  t.deepEqual(errors.map((e) => e.where), ['f.ini:2', 'f.ini:3', 'f.ini:4', 'f.ini:5', 'f.ini:7', 'f.ini:8'])
  t.regex(errors[0]!.message, /\[fabric\] verbose: a line of the form `key = value`/)
  t.regex(errors[1]!.message, /__proto__/)
  t.regex(errors[2]!.message, /\[a\]b\]: a section name/)
  t.regex(errors[4]!.message, /auth = "": a value after `=`/)
  t.deepEqual(doc.sections.map((s) => s.name), ['fabric', 'rip'])
  t.is(Object.getPrototypeOf(doc.sections[0]!.entries), Map.prototype)
})
