import test from 'ava'
import { loadConfigText } from '../../../src/config/fabric-config.js'
import { MANAGED_LABEL, type NetworkInfo } from '../../../src/host/docker.js'
import { NETWORK_LABEL, bridgeSysctls, dockerNetworkBody, planLeave, planNetworks, reservedAddresses, wantedNetworks } from '../../../src/host/networks.js'
import { P } from '../../helpers/net.js'

const CONFIG = loadConfigText(`[fabric]
pool = 10.244.0.0/16
[host.h3]
address = 192.168.1.3
subnet = 10.244.3.0/24
[network.backend]
pool = 10.245.0.0/16
[network.frontend]
pool = 10.246.0.0/16
bridge = fab-front
`)
const wants = wantedNetworks(CONFIG.networks, CONFIG.hosts[0]!.networks!)

/** What Docker answers for a network fabric created (GET /networks/NAME). */
function ours(name: string, over: Partial<NetworkInfo> = {}): NetworkInfo {
  const w = wants.find((x) => x.name === name)!
  const body = dockerNetworkBody(w, '20.10.24') as { IPAM: NetworkInfo['IPAM']; Options: Record<string, string>; Labels: Record<string, string> }
  return { Id: `${name}-id-0123456789`, Name: name, Driver: 'bridge', IPAM: body.IPAM, Options: body.Options, Labels: body.Labels, Containers: {}, ...over }
}

test('wanted networks: every network this host has a subnet of, MTU 1500', (t) => {
  t.deepEqual(wants.map((w) => [w.name, w.subnet.addr === P(w.name === 'backend' ? '10.245.3.0/24' : '10.246.3.0/24').addr, w.mtu, w.bridge]), [
    ['backend', true, 1500, undefined],
    ['frontend', true, 1500, 'fab-front'],
  ])
  t.deepEqual(wantedNetworks(CONFIG.networks, {}), [])
})

test('create body: pool as subnet, this host\'s subnet as ip-range, its first address as gateway, masquerade off, MTU, labels', (t) => {
  t.deepEqual(dockerNetworkBody(wants[1]!, '20.10.24'), {
    Name: 'frontend',
    Driver: 'bridge',
    CheckDuplicate: true,
    IPAM: { Driver: 'default', Config: [{ Subnet: '10.246.0.0/16', IPRange: '10.246.3.0/24', Gateway: '10.246.3.1', AuxiliaryAddresses: { 'fabric-subnet-network': '10.246.3.0', 'fabric-subnet-broadcast': '10.246.3.255' } }] },
    Options: { 'com.docker.network.bridge.enable_ip_masquerade': 'false', 'com.docker.network.driver.mtu': '1500', 'com.docker.network.bridge.name': 'fab-front' },
    Labels: { [MANAGED_LABEL]: 'true', [NETWORK_LABEL]: 'frontend' },
  })
  const v28 = dockerNetworkBody(wants[0]!, '28.1.0') as { Options: Record<string, string> }
  t.is(v28.Options['com.docker.network.bridge.gateway_mode_ipv4'], 'nat-unprotected')
})

test('plan: absent -> create; ours and fitting -> adopt (bridge from the name option or br-ID)', (t) => {
  const p = planNetworks(wants, new Map([['backend', ours('backend')], ['frontend', undefined]]), '20.10.24')
  t.deepEqual(p.errors, [])
  t.deepEqual(p.steps.map((s) => [s.kind, s.name, s.kind === 'adopt' ? s.bridge : undefined]), [['adopt', 'backend', 'br-backend-id-0'], ['create', 'frontend', undefined]])
  const again = planNetworks(wants, new Map([['backend', ours('backend')], ['frontend', ours('frontend')]]), '20.10.24')
  t.deepEqual(again.steps.map((s) => (s.kind === 'adopt' ? s.bridge : s.kind)), ['br-backend-id-0', 'fab-front'])
})

test('plan: ours with a wrong subnet, ip-range, MTU or masquerade -> reported (with what to do), nothing changed', (t) => {
  const wrong = ours('backend', { IPAM: { Config: [{ Subnet: '10.245.3.0/24', Gateway: '10.245.3.1' }] } })
  const p = planNetworks(wants.slice(0, 1), new Map([['backend', wrong]]), undefined)
  t.is(p.steps[0]!.kind, 'mismatch')
  t.regex(p.errors[0]!, /Docker network backend \(fabric's\) does not fit fabric\.ini: subnet 10\.245\.3\.0\/24 \(fabric needs 10\.245\.0\.0\/16\)\. Remove it \(docker network rm backend\)/)
  const used = ours('backend', { IPAM: { Config: [{ Subnet: '10.245.0.0/16', IPRange: '10.245.9.0/24', Gateway: '10.245.9.1', AuxiliaryAddresses: { 'fabric-subnet-network': '10.245.9.0', 'fabric-subnet-broadcast': '10.245.9.255' } }] }, Containers: { abc: { Name: 'c1' } } })
  const u = planNetworks(wants.slice(0, 1), new Map([['backend', used]]), undefined)
  t.regex(u.errors[0]!, /ip-range 10\.245\.9\.0\/24 \(this host's subnet is 10\.245\.3\.0\/24\); gateway 10\.245\.9\.1 \(fabric needs 10\.245\.3\.1\); auxiliary addresses 10\.245\.9\.0, 10\.245\.9\.255 \(fabric reserves 10\.245\.3\.0 and 10\.245\.3\.255, this host's subnet's network and broadcast addresses\)\. It has 1 container\(s\): disconnect them/)
  const opts = ours('backend', { Options: { 'com.docker.network.driver.mtu': '1450' } })
  t.regex(planNetworks(wants.slice(0, 1), new Map([['backend', opts]]), undefined).errors[0]!, /masquerade on .*; mtu 1450 \(fabric needs 1500\)/)
  const bridge = ours('frontend', { Options: { 'com.docker.network.bridge.enable_ip_masquerade': 'false', 'com.docker.network.driver.mtu': '1500' } })
  t.regex(planNetworks(wants.slice(1), new Map([['frontend', bridge]]), undefined).errors[0]!, /bridge br-frontend-id- \(fabric\.ini says fab-front\)/)
})

test('reserved addresses: this host\'s subnet\'s network and broadcast address (Docker would give a container the .0), none when the subnet is the whole pool', (t) => {
  t.deepEqual(reservedAddresses(wants[0]!), { 'fabric-subnet-network': '10.245.3.0', 'fabric-subnet-broadcast': '10.245.3.255' })
  t.deepEqual(reservedAddresses({ pool: P('10.40.0.0/16'), subnet: P('10.40.7.16/28') }), { 'fabric-subnet-network': '10.40.7.16', 'fabric-subnet-broadcast': '10.40.7.31' })
  const whole = { name: 'solo', pool: P('10.50.0.0/24'), subnet: P('10.50.0.0/24'), mtu: 1500 }
  t.deepEqual(reservedAddresses(whole), {})
  t.deepEqual((dockerNetworkBody(whole, '20.10.24') as { IPAM: unknown }).IPAM, { Driver: 'default', Config: [{ Subnet: '10.50.0.0/24', IPRange: '10.50.0.0/24', Gateway: '10.50.0.1' }] })
  // a fabric network made without them (Docker hands out .0) does not fit
  const old = ours('backend', { IPAM: { Config: [{ Subnet: '10.245.0.0/16', IPRange: '10.245.3.0/24', Gateway: '10.245.3.1' }] } })
  t.regex(planNetworks(wants.slice(0, 1), new Map([['backend', old]]), undefined).errors[0]!, /: auxiliary addresses none \(fabric reserves 10\.245\.3\.0 and 10\.245\.3\.255, this host's subnet's network and broadcast addresses\)\. Remove it/)
})

test('plan: a network of that name fabric did not create -> refused, never adopted', (t) => {
  const foreign: NetworkInfo = { Id: 'f00', Name: 'backend', Driver: 'bridge', IPAM: { Config: [{ Subnet: '10.245.0.0/16', IPRange: '10.245.3.0/24', Gateway: '10.245.3.1' }] }, Options: ours('backend').Options, Labels: {} }
  const p = planNetworks(wants.slice(0, 1), new Map([['backend', foreign]]), undefined)
  t.is(p.steps[0]!.kind, 'foreign')
  t.regex(p.errors[0]!, /Docker network backend exists and was not created by fabric \(no label io\.fabric\.managed=true\); fabric does not take over or delete it/)
  // the --docker-network network (managed label, no network label) is not a fabric network's
  const single = { ...ours('backend'), Labels: { [MANAGED_LABEL]: 'true' } }
  t.regex(planNetworks(wants.slice(0, 1), new Map([['backend', single]]), undefined).errors[0]!, /label io\.fabric\.network=\(none\) \(fabric needs backend\)/)
})

test('leave: removes fabric\'s unused networks, keeps (and names the containers of) used ones, never touches others', (t) => {
  const plan = planLeave([
    ours('backend'),
    ours('frontend', { Containers: { e1: { Name: 'web1' }, e2: { Name: 'web2' } } }),
    { Id: 'x', Name: 'mine', Driver: 'bridge', Labels: { other: 'yes' }, Containers: {} },
    { Id: 'y', Name: 'fabric', Driver: 'bridge', Labels: { [MANAGED_LABEL]: 'true' }, Containers: {} },
  ])
  t.deepEqual(plan.remove, [{ name: 'backend', id: 'backend-id-0123456789' }])
  t.deepEqual(plan.kept, [{ name: 'frontend', id: 'frontend-id-0123456789', containers: ['web1', 'web2'] }])
})

test('leave: the plan goes by network name whatever order Docker lists the networks in', (t) => {
  const as = (name: string, used: boolean): NetworkInfo => ({ ...ours('backend'), Id: `${name}-id`, Name: name, Containers: used ? { e: { Name: `${name}-c` } } : {} })
  const plan = planLeave([as('frontend', false), as('db', true), as('backend', false), as('app', true)])
  t.deepEqual(plan.remove.map((r) => r.name), ['backend', 'frontend'])
  t.deepEqual(plan.kept.map((r) => r.name), ['app', 'db'])
})

test('bridge sysctls: proxy ARP on the network\'s bridge', (t) => {
  t.deepEqual(bridgeSysctls('fab-front'), [
    { path: '/proc/sys/net/ipv4/conf/fab-front/proxy_arp', key: 'net.ipv4.conf.fab-front.proxy_arp', value: '1' },
    { path: '/proc/sys/net/ipv4/neigh/fab-front/proxy_delay', key: 'net.ipv4.neigh.fab-front.proxy_delay', value: '0' },
  ])
})
