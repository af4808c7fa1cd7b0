import test from 'ava'
import { assembleInterfaces, readInterfaces, scope6Of } from '../../../src/kernel/interfaces.js'
import { A } from './fake-kernel.js'

const links = [
  { index: 3, name: 'docker0', flags: 0x1003, mtu: 1500 },
  { index: 1, name: 'lo', flags: 0x9, mtu: 65536 },
  { index: 4, name: 'veth1', flags: 0x1002, mtu: 1500, master: 3 },
  { index: 2, name: 'eth0', flags: 0x1003, mtu: 9000, master: 0 },
]
const addrs = [
  { index: 2, address: A('172.30.0.11'), prefixLen: 24, scope: 0, label: 'eth0' },
  { index: 1, address: A('127.0.0.1'), prefixLen: 8, scope: 254, label: 'lo' },
  { index: 2, address: A('172.30.1.11'), prefixLen: 24, scope: 0, label: 'eth0:1' },
  { index: 3, address: A('10.244.1.1'), prefixLen: 24, scope: 0 },
  { index: 9, address: A('192.168.9.9'), prefixLen: 24, scope: 0 }, // link gone meanwhile
]

test('links and their IPv4 addresses are assembled by index, sorted, with up, mtu and master', (t) => {
  t.deepEqual(assembleInterfaces(links, addrs), [
    { index: 1, name: 'lo', up: true, mtu: 65536, addresses: [{ address: A('127.0.0.1'), prefixLen: 8, scope: 254 }] },
    { index: 2, name: 'eth0', up: true, mtu: 9000, addresses: [{ address: A('172.30.0.11'), prefixLen: 24, scope: 0 }, { address: A('172.30.1.11'), prefixLen: 24, scope: 0 }] },
    { index: 3, name: 'docker0', up: true, mtu: 1500, addresses: [{ address: A('10.244.1.1'), prefixLen: 24, scope: 0 }] },
    { index: 4, name: 'veth1', up: false, mtu: 1500, master: 3, addresses: [] },
  ])
})

test('readInterfaces reads through the port it is given', async (t) => {
  const got = await readInterfaces({ dumpLinks: async () => links, dumpAddresses: async () => addrs })
  t.deepEqual(got.map((i) => i.name), ['lo', 'eth0', 'docker0', 'veth1'])
})

// IFA_F: NODAD 0x02, DADFAILED 0x08, TENTATIVE 0x40, PERMANENT 0x80; scopes: 0 universe, 253 link, 254 host
const addrs6 = [
  { index: 2, address: 'fd00:99::1', prefixLen: 64, scope: 0, flags: 0x80 },
  { index: 2, address: 'fe80::1', prefixLen: 64, scope: 253, flags: 0x80 },
  { index: 1, address: '::1', prefixLen: 128, scope: 254, flags: 0x80 },
  { index: 3, address: 'fd00:fab:0:1::1', prefixLen: 64, scope: 0, flags: 0x40 }, // tentative: kept (usable in a moment)
  { index: 3, address: 'fe80::42', prefixLen: 64, scope: 253, flags: 0x08 }, // DAD failed: never usable
  { index: 9, address: 'fd00:9::9', prefixLen: 64, scope: 0, flags: 0 }, // link gone meanwhile
]

test('with the IPv6 dump, every interface gets addresses6 with link/global scope; ::1 and failed-DAD addresses are left out', (t) => {
  const got = assembleInterfaces(links, addrs, addrs6)
  t.deepEqual(got.map((i) => [i.name, i.addresses6]), [
    ['lo', []],
    ['eth0', [{ address: 'fd00:99::1', prefixLen: 64, scope: 'global' }, { address: 'fe80::1', prefixLen: 64, scope: 'link' }]],
    ['docker0', [{ address: 'fd00:fab:0:1::1', prefixLen: 64, scope: 'global' }]],
    ['veth1', []],
  ])
  t.deepEqual(got.map((i) => i.addresses), assembleInterfaces(links, addrs).map((i) => i.addresses), 'IPv4 addresses unchanged')
})

test('without the IPv6 dump addresses6 is absent (not read), not empty (no address)', (t) => {
  t.true(assembleInterfaces(links, addrs).every((i) => !('addresses6' in i)))
})

test('readInterfaces reads the IPv6 dump when the port has one', async (t) => {
  const got = await readInterfaces({ dumpLinks: async () => links, dumpAddresses: async () => addrs, dumpAddresses6: async () => addrs6 })
  t.deepEqual(got.find((i) => i.name === 'eth0')?.addresses6?.map((a) => a.address), ['fd00:99::1', 'fe80::1'])
})

test('scope6Of: a fe80::/10 address reported with universe scope is still link-local', (t) => {
  t.is(scope6Of({ address: 'fe80::9', scope: 0, flags: 0 }), 'link')
  t.is(scope6Of({ address: 'fd00::9', scope: 0, flags: 0 }), 'global')
  t.is(scope6Of({ address: '::1', scope: 254, flags: 0 }), undefined)
})
