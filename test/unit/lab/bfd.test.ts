/**
 * What `lab up --bfd` gives the agents and the BIRD/FRR reflectors: the
 * `fabric join` flags (parsed by join's own flag parser into [bgp]/[rip]
 * overrides), the timers and refusals, and the reflector templates rendered
 * with and without their optional BFD block (the lines operators switch on
 * by removing the marker). Pure: nothing is started.
 */
import test from 'ava'
import { JOIN_FLAGS, joinOverrides } from '../../../src/cli-support/join-flags.js'
import { parseFlagsFast } from '../../../src/cli-support/plain-flags.js'
import { LAB_BFD, bfdArgs, labBfd } from '../../../src/lab/lab.js'
import { readTemplate, renderTemplate } from '../../../src/lab/reflectors.js'

const VALUES = {
  ROUTER_ID: '10.99.0.2', LOCAL_ADDRESS: '10.99.0.2', ASN: 64512, CLUSTER_ID: '10.99.0.1', CLIENT_RANGE: '10.99.0.0/24', HOLD_TIME: 9,
  KEEPALIVE_TIME: 3, LOG_FILE: '/tmp/x.log', HOSTNAME: 'rr1', LISTEN_LIMIT: 216, BFD_INTERVAL: 150, BFD_MULTIPLIER: 4,
}

/** The lines of a config that are not comments (BIRD: #, FRR: !) nor empty. */
function active(text: string, comment: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith(comment))
}

test('labBfd: LAB_BFD (100 ms x 3) for true, partial timers filled in, none for false; refused in static mode and out of range', (t) => {
  t.deepEqual(LAB_BFD, { interval: 100, multiplier: 3 })
  t.deepEqual(labBfd('bgp', true), { interval: 100, multiplier: 3 })
  t.deepEqual(labBfd('rip', { interval: 500 }), { interval: 500, multiplier: 3 })
  t.is(labBfd('bgp', false), undefined)
  t.is(labBfd('static', undefined), undefined)
  t.throws(() => labBfd('static', true), { message: '--bfd: BFD runs with BGP peers or RIP neighbours, so it needs --mode bgp or rip (not static)' })
  t.throws(() => labBfd('bgp', { interval: 9 }), { message: '--bfd-interval 9: expected 10 to 10000 ms' })
  t.throws(() => labBfd('bgp', { multiplier: 0 }), { message: '--bfd-multiplier 0: expected 1 to 255' })
  t.throws(() => labBfd('bgp', { interval: 1.5 }), { message: /--bfd-interval 1.5/ })
})

test('bfdArgs: [bgp] bfd flags in mode bgp, [rip] ones in mode rip, none without BFD; join\'s parser reads them as overrides', (t) => {
  const bgp = bfdArgs({ mode: 'bgp', bfd: { interval: 200, multiplier: 5 } })
  t.deepEqual(bgp, ['--bfd', 'yes', '--bfd-interval', '200', '--bfd-multiplier', '5'])
  const o = joinOverrides(parseFlagsFast(bgp, JOIN_FLAGS, {})!)
  t.like(o.bgp, { bfd: 'yes', 'bfd-interval': '200', 'bfd-multiplier': '5' })
  const rip = bfdArgs({ mode: 'rip', bfd: LAB_BFD })
  t.deepEqual(rip, ['--rip-bfd', 'yes', '--rip-bfd-interval', '100', '--rip-bfd-multiplier', '3'])
  t.like(joinOverrides(parseFlagsFast(rip, JOIN_FLAGS, {})!).rip, { 'rip-bfd': 'yes', 'rip-bfd-interval': '100', 'rip-bfd-multiplier': '3' })
  t.deepEqual(bfdArgs({ mode: 'bgp' }), [])
})

test('BIRD template: without BFD no active BFD line; with the #bfd block a protocol bfd with the timers and bfd on in the bgp protocol', (t) => {
  const text = readTemplate('bird-route-reflector.conf')
  const plain = active(renderTemplate(text, VALUES), '#')
  t.false(plain.some((l) => /\bbfd\b/.test(l)), plain.join('\n'))
  t.true(plain.includes('rr client;'))
  const bfd = renderTemplate(text, VALUES, ['#bfd'])
  const lines = active(bfd, '#')
  t.true(lines.includes('protocol bfd {'))
  t.true(lines.includes('min rx interval 150 ms;') && lines.includes('min tx interval 150 ms;') && lines.includes('multiplier 4;'))
  t.true(lines.includes('bfd on;'))
  // `bfd on` is inside `protocol bgp fabric { ... }`
  const bgp = bfd.slice(bfd.indexOf('protocol bgp fabric {'))
  t.true(bgp.indexOf('  bfd on;') > 0 && bgp.indexOf('  bfd on;') < bgp.indexOf('ipv4 {'))
  // the marker goes, the indentation stays; no other line changes
  t.is(bfd.split('\n').length, text.split('\n').length)
  t.notRegex(bfd, /^ *#bfd /m)
})

test('FRR template: without BFD no active BFD line; with the !bfd block a bfd profile and the peer group bound to it', (t) => {
  const text = readTemplate('frr-route-reflector.conf')
  const plain = active(renderTemplate(text, VALUES), '!')
  t.false(plain.some((l) => /\bbfd\b/.test(l)), plain.join('\n'))
  t.true(plain.includes('bgp listen range 10.99.0.0/24 peer-group fabric'))
  const lines = active(renderTemplate(text, VALUES, ['!bfd']), '!')
  const at = (l: string) => lines.indexOf(l)
  t.true(at('bfd') >= 0 && at('profile fabric') === at('bfd') + 1, lines.join('\n'))
  t.deepEqual(lines.slice(at('profile fabric') + 1, at('profile fabric') + 4), ['receive-interval 150', 'transmit-interval 150', 'detect-multiplier 4'])
  // no `exit` lines: bgpd and zebra read the same file, and an exit in a node they do not know would leave config mode
  t.false(lines.includes('exit'))
  t.true(at('neighbor fabric bfd profile fabric') > at('router bgp 64512'))
  t.true(at('bfd') < at('router bgp 64512'))
})

test('renderTemplate: a marker the template does not have is an error; a placeholder without a value too', (t) => {
  t.throws(() => renderTemplate('a {{X}}\n', { X: 1 }, ['#bfd']), { message: 'template has no "#bfd " block to enable' })
  t.throws(() => renderTemplate('a {{X}}\n', {}), { message: 'template placeholder {{X}} has no value' })
  t.is(renderTemplate('x\n  #bfd y {{X}};\n', { X: 2 }, ['#bfd']), 'x\n  y 2;\n')
})
