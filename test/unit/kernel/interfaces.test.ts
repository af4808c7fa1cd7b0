import test from 'ava'
import { assembleInterfaces, readInterfaces } from '../../../src/kernel/interfaces.js'
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
