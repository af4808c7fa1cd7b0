/**
 * RIPng packets captured from BIRD 2 (`protocol rip ng`), FRR 8 ripngd and
 * fabric's RipngSource on one segment (test/interop/capture-ripng.sh). Each
 * must decode and re-encode to the same bytes; the senders' routes must be
 * what they were configured to announce; and the capture recorded that
 * every speaker learned the others' /64s.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import test from 'ava'
import { decodePacket, encodePacket } from '../../../../src/protocols/ripng/codec.js'
import { planRawChain, hopLimitChain, planRawChainRemoval, rawChainDropsOf } from '../../../../src/protocols/ripng/hop-limit.js'

interface Fixture {
  learned: { bird: string[]; frr: string[]; fabric: { learned: Record<string, string>; hopLimitDrops: number } | null }
  hopLimitRuleInstalled: boolean
  packets: Array<{ sender: string; from: string; to: string; hopLimit: number; srcPort: number; command: string; hex: string }>
}
const f = JSON.parse(readFileSync(fileURLToPath(new URL('../../../fixtures/ripng/bird2-frr8.json', import.meta.url)), 'utf8')) as Fixture

test('the capture has requests and responses from BIRD, FRR and fabric', (t) => {
  for (const s of ['bird', 'frr', 'fabric']) {
    t.true(f.packets.some((p) => p.sender === s && p.command === 'request'), s)
    t.true(f.packets.some((p) => p.sender === s && p.command === 'response'), s)
  }
})

for (const [i, p] of f.packets.entries()) {
  test(`#${i} ${p.sender} ${p.command} to ${p.to}: decodes and re-encodes to the same bytes`, (t) => {
    const d = decodePacket(Buffer.from(p.hex, 'hex'))
    if (!d.ok) return t.fail(d.error.message)
    t.is(d.value.command as string, p.command)
    t.is(d.value.rejected, undefined)
    t.is(encodePacket(d.value).toString('hex'), p.hex)
    // RFC 2080 2.4.2 / 2.5: link-local source, port 521; multicast with hop limit 255
    t.regex(p.from, /^fe80::/)
    t.is(p.srcPort, 521)
    if (p.to === 'ff02::9') t.is(p.hopLimit, 255)
  })
}

test('senders announce what they were configured with', (t) => {
  const routes = (sender: string) =>
    new Set(f.packets.filter((p) => p.sender === sender && p.command === 'response').flatMap((p) => {
      const d = decodePacket(Buffer.from(p.hex, 'hex'))
      return d.ok ? d.value.entries.flatMap((e) => (e.kind === 'route' && e.metric === 1 ? [`${e.prefix.addr}/${e.prefix.len} tag ${e.tag}`] : [])) : []
    }))
  t.true(routes('bird').has('fd00:fab:0:1::/64 tag 0'))
  t.true(routes('bird').has('fd00:fab:0:9::/64 tag 77'))
  t.true(routes('frr').has('fd00:fab:0:2::/64 tag 0'))
  t.true(routes('fabric').has('fd00:fab:0:3::/64 tag 0'))
})

test('routes learned both ways', (t) => {
  const fab = f.learned.fabric
  if (!fab) return t.fail('no fabric report')
  t.regex(fab.learned['fd00:fab:0:1::/64'] ?? '', /^via fe80::1 .* metric 2 tag 0$/)
  t.regex(fab.learned['fd00:fab:0:9::/64'] ?? '', /^via fe80::1 .* metric 2 tag 77$/)
  t.regex(fab.learned['fd00:fab:0:2::/64'] ?? '', /^via fe80::2 .* metric 2 tag 0$/)
  const bird = f.learned.bird.join('\n')
  t.regex(bird, /fd00:fab:0:3::\/64\s+unicast \[rip1 [^\]]+\] \* \(120\/2\)\n\tvia fe80::3/)
  t.regex(f.learned.frr.join('\n'), /R\(n\) fd00:fab:0:3::\/64 \n\s+fe80::3\s+\S+\s+2 /)
  t.true(f.hopLimitRuleInstalled)
  t.is(fab.hopLimitDrops, 0)
})

test('hop-limit rule planning: install, idempotent, removal, counter', (t) => {
  const c = hopLimitChain(521)
  const empty = '*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n'
  t.is(planRawChain(empty, c), '*raw\n:FABRIC-RIPNG - [0:0]\n-A FABRIC-RIPNG -d ff02::9/128 -p udp -m udp --dport 521 -m hl ! --hl-eq 255 -j DROP\n-I PREROUTING 1 -j FABRIC-RIPNG\nCOMMIT\n')
  const installed = '*raw\n:PREROUTING ACCEPT [0:0]\n:FABRIC-RIPNG - [0:0]\n-A PREROUTING -j FABRIC-RIPNG\n-A FABRIC-RIPNG -d ff02::9/128 -p udp -m udp --dport 521 -m hl ! --hl-eq 255 -j DROP\nCOMMIT\n'
  t.is(planRawChain(installed, c), '')
  t.is(planRawChain(installed, hopLimitChain(5210)).includes('--dport 5210'), true)
  t.is(planRawChainRemoval(installed, c.chain), '*raw\n-D PREROUTING -j FABRIC-RIPNG\n:FABRIC-RIPNG - [0:0]\n-X FABRIC-RIPNG\nCOMMIT\n')
  t.is(planRawChainRemoval(empty, c.chain), '')
  t.is(rawChainDropsOf(installed.replace('-A FABRIC-RIPNG -d', '[7:560] -A FABRIC-RIPNG -d'), c), 7)
})
