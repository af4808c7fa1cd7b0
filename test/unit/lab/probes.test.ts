/**
 * Parsing what the lab status helpers print: the route dumper / `ip route`
 * shells (src/lab/kernel-routes.ts) and the pinger (src/lab/pinger.ts).
 * A truncated or garbled output is an error (or an unread host), never a
 * silent "no routes" or "no reply".
 */
import test from 'ava'
import { parseRouteDump, routeLinePrefix } from '../../../src/lab/kernel-routes.js'
import { checkTarget, parsePingerOutput } from '../../../src/lab/pinger.js'

test('routeLinePrefix: the prefix of an `ip route` line, canonical; /32 and /128 for a bare address; none for other route types, nexthop lines and junk', (t) => {
  t.is(routeLinePrefix('10.244.2.0/24 via 10.99.0.12 dev eth0 proto fabric metric 20', 4), '10.244.2.0/24')
  t.is(routeLinePrefix('10.244.2.5 via 10.99.0.12 dev eth0', 4), '10.244.2.5/32')
  t.is(routeLinePrefix('10.244.2.0/24', 4), '10.244.2.0/24')
  t.is(routeLinePrefix('fd00:fab:0:2::/64 via fd00:99::2 dev eth0 metric 1024 pref medium', 6), 'fd00:fab:0:2::/64')
  // non-canonical IPv6 text (as another printer may write it) is normalised
  t.is(routeLinePrefix('FD00:0fab:0:0002:0:0:0:0/64', 6), 'fd00:fab:0:2::/64')
  t.is(routeLinePrefix('fd00::5 dev eth0', 6), 'fd00::5/128')
  t.is(routeLinePrefix('blackhole 10.244.9.0/24 proto fabric', 4), undefined)
  t.is(routeLinePrefix('unreachable fd00:fab:0:9::/64', 6), undefined)
  t.is(routeLinePrefix('\tnexthop via 10.99.0.12 dev eth0 weight 1', 4), undefined)
  t.is(routeLinePrefix('', 4), undefined)
  t.is(routeLinePrefix('Cannot open network namespace "x": No such file or directory', 4), undefined)
  t.is(routeLinePrefix('10.244.2.0/33', 4), undefined)
  // the family of the section decides
  t.is(routeLinePrefix('fd00::/64', 4), undefined)
})

test('parseRouteDump: sections per namespace and family, failures with their reason, both programs\' formats', (t) => {
  const out = [
    '@4 a-h1', '10.244.2.0/24', '10.244.3.0/24',
    '@6 a-h1', 'fd00:fab:0:2::/64',
    '@4 a-h2', '10.244.1.0/24 via 10.99.0.11 dev eth0 proto 233', 'blackhole 10.244.3.0/24 proto 233',
    '@6 a-h2',
    '!a-h3 open /run/netns/a-h3: No such file or directory',
    'done',
  ].join('\n')
  const m = parseRouteDump(out, ['a-h1', 'a-h2', 'a-h3', 'a-h4'], [4, 6])
  t.deepEqual(m.get('a-h1'), { 4: ['10.244.2.0/24', '10.244.3.0/24'], 6: ['fd00:fab:0:2::/64'] })
  t.deepEqual(m.get('a-h2'), { 4: ['10.244.1.0/24'], 6: [] })
  t.is(m.get('a-h3'), 'open /run/netns/a-h3: No such file or directory')
  t.is(m.get('a-h4'), 'no routes read from namespace a-h4')
})

test('parseRouteDump: a missing family section leaves the namespace unread; output without "done" (killed) leaves every namespace unread', (t) => {
  t.is(parseRouteDump('@4 a-h1\n10.244.2.0/24\ndone\n', ['a-h1'], [4, 6]).get('a-h1'), 'no routes read from namespace a-h1')
  t.deepEqual(parseRouteDump('@4 a-h1\n10.244.2.0/24\ndone\n', ['a-h1'], [4]).get('a-h1'), { 4: ['10.244.2.0/24'] })
  t.is(parseRouteDump('@4 a-h1\n10.244.2.0/24\n', ['a-h1'], [4]).get('a-h1'), 'the route dump ended early')
  // several shells: each must have ended
  const two = '@4 a-h1\n10.244.2.0/24\ndone\n@4 a-h2\n10.244.1.0/24\n'
  t.is(parseRouteDump(two, ['a-h1', 'a-h2'], [4], 2).get('a-h1'), 'the route dump ended early')
  t.deepEqual(parseRouteDump(`${two}done\n`, ['a-h1', 'a-h2'], [4], 2).get('a-h2'), { 4: ['10.244.1.0/24'] })
})

test('parsePingerOutput: every target once as ok or fail, then done', (t) => {
  const targets = ['10.244.2.2', '10.244.3.2', 'fd00:fab:0:2::2']
  const m = parsePingerOutput('ok 10.244.3.2\nok fd00:fab:0:2::2\nfail 10.244.2.2\ndone\n', targets)
  t.deepEqual(m instanceof Map ? [...m] : m, [['10.244.3.2', true], ['fd00:fab:0:2::2', true], ['10.244.2.2', false]])
})

test('parsePingerOutput: truncated, unknown, duplicate, foreign or missing answers are errors', (t) => {
  const targets = ['10.244.2.2', '10.244.3.2']
  t.is(parsePingerOutput('ok 10.244.2.2\nok 10.244.3.2\n', targets), 'pinger: output ended before "done"')
  t.is(parsePingerOutput('ok 10.244.2.2\nok 10.244.2.2\nok 10.244.3.2\ndone\n', targets), 'pinger: 10.244.2.2 reported twice')
  t.is(parsePingerOutput('ok 10.244.2.2\nok 10.244.9.2\ndone\n', targets), 'pinger: answer for 10.244.9.2, which was not a target')
  t.is(parsePingerOutput('ok 10.244.2.2\ndone\n', targets), 'pinger: no result for 10.244.3.2')
  t.is(parsePingerOutput('ok 10.244.2.2\nmaybe 10.244.3.2\ndone\n', targets), 'pinger: unexpected line "maybe 10.244.3.2"')
  t.is(parsePingerOutput('ok 10.244.2.2\nok 10.244.3.2\ndone\nok 10.244.3.2\n', targets), 'pinger: output after "done": "ok 10.244.3.2"')
  t.true(parsePingerOutput('done\n', []) instanceof Map)
})

test('checkTarget: IPv4 dotted quads and canonical IPv6 only (the pinger echoes targets verbatim)', (t) => {
  t.is(checkTarget('10.244.2.2'), undefined)
  t.is(checkTarget('fd00:fab:0:2::2'), undefined)
  t.regex(checkTarget('fd00:fab:0:0002::2') ?? '', /not in canonical form \(fd00:fab:0:2::2\)/)
  t.truthy(checkTarget('10.244.2'))
  t.truthy(checkTarget('10.244.2.256'))
  t.truthy(checkTarget('fd00:::1'))
  t.truthy(checkTarget('-c1'))
})
