import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { enableIpv6Forwarding, raIgnored, readAcceptRa } from '../../../src/kernel/sysctl.js'

/** A /proc/sys look-alike in a temporary directory. */
function procSys(t: { teardown(fn: () => void): void }, values: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'fabric-sysctl6-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  for (const [path, v] of Object.entries(values)) {
    const file = join(root, 'net/ipv6', path)
    mkdirSync(join(file, '..'), { recursive: true })
    writeFileSync(file, `${v}\n`)
  }
  return root
}

test('enableIpv6Forwarding sets conf/all/forwarding once and says whether it changed it', (t) => {
  const root = procSys(t, { 'conf/all/forwarding': '0' })
  t.true(enableIpv6Forwarding(root))
  t.is(readFileSync(join(root, 'net/ipv6/conf/all/forwarding'), 'utf8'), '1\n')
  t.false(enableIpv6Forwarding(root))
})

test('enableIpv6Forwarding without IPv6 in the kernel names the missing path', (t) => {
  const root = procSys(t, {})
  t.throws(() => enableIpv6Forwarding(root), { message: /net\/ipv6\/conf\/all\/forwarding is missing: the kernel has no IPv6/ })
})

test('accept_ra: 1 with forwarding on means RAs are ignored; 2 keeps them; absent interface is undefined', (t) => {
  const root = procSys(t, {
    'conf/eth0/accept_ra': '1', 'conf/eth0/forwarding': '1',
    'conf/eth1/accept_ra': '2', 'conf/eth1/forwarding': '1',
    'conf/eth2/accept_ra': '1', 'conf/eth2/forwarding': '0',
  })
  t.is(readAcceptRa('eth0', root), 1)
  t.deepEqual(raIgnored('eth0', root), { iface: 'eth0', acceptRa: 1, forwarding: true, ignored: true })
  t.deepEqual(raIgnored('eth1', root), { iface: 'eth1', acceptRa: 2, forwarding: true, ignored: false })
  t.false(raIgnored('eth2', root)!.ignored)
  t.is(raIgnored('nope', root), undefined)
  t.is(readAcceptRa('nope', root), undefined)
})
