import test from 'ava'
import { interfaceAddresses, runRestart } from '../../../src/host/docker.js'
import type { NetInterface } from '../../../src/kernel/interfaces.js'

const links: NetInterface[] = [
  { index: 1, name: 'lo', up: true, mtu: 65536, addresses: [{ address: 0x7f000001, prefixLen: 8, scope: 254 }] },
  { index: 5, name: 'docker0', up: false, mtu: 1500, addresses: [{ address: 0x0af40301, prefixLen: 24, scope: 0 }, { address: 0xc0a80001, prefixLen: 32, scope: 0 }] },
  { index: 6, name: 'veth1', up: true, mtu: 1500, master: 5, addresses: [] },
]

test('interfaceAddresses: address/len of the named interface, also when it is down', async (t) => {
  t.deepEqual(await interfaceAddresses('docker0', async () => links), ['10.244.3.1/24', '192.168.0.1/32'])
  t.deepEqual(await interfaceAddresses('veth1', async () => links), [])
  t.is(await interfaceAddresses('docker1', async () => links), undefined, 'undefined when there is no such interface')
})

test('interfaceAddresses: an rtnetlink failure is an error, not "docker0 is absent"', async (t) => {
  await t.throwsAsync(interfaceAddresses('docker0', async () => { throw new Error('netlink: EPERM') }), { message: /EPERM/ })
})

test('interfaceAddresses reads this namespace over rtnetlink: lo has 127.0.0.1/8', async (t) => {
  t.true((await interfaceAddresses('lo'))?.includes('127.0.0.1/8'))
})

test('runRestart: exit code and output of the plan; a missing program is 127', async (t) => {
  t.deepEqual(await runRestart({ argv: ['sh', '-c', 'echo restarted; echo warn >&2; exit 4'], display: 'x', via: 'test' }), { code: 4, output: 'restarted\nwarn' })
  t.is((await runRestart({ argv: ['/nonexistent/systemctl'], display: 'x', via: 'test' })).code, 127)
  t.not((await runRestart({ argv: ['sleep', '30'], display: 'x', via: 'test' }, 100)).code, 0, 'a restart that hangs is ended')
})
