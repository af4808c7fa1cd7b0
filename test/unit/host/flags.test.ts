import test from 'ava'
import { HOST_FLAGS } from '../../../src/cli-support/host-flags.js'
import { DEFAULT_DAEMON_JSON, DEFAULT_DOCKER_SOCKET } from '../../../src/host/docker.js'
import { HOST_OPTIONS, hostOptions, readHostOptions } from '../../../src/host/flags.js'

test('the oclif flags carry the description, env, default and choices of host/ options', (t) => {
  t.deepEqual(Object.keys(HOST_FLAGS), Object.keys(HOST_OPTIONS))
  for (const [name, spec] of Object.entries(HOST_OPTIONS)) {
    const f = HOST_FLAGS[name as keyof typeof HOST_FLAGS] as unknown as Record<string, unknown>
    t.is(f.type, spec.type === 'boolean' ? 'boolean' : 'option', name)
    t.is(f.env, spec.env, name)
    t.is(f.description, spec.description, name)
    t.is(f.helpGroup, 'HOST', name)
    t.is(f.default, 'default' in spec ? spec.default : undefined, name)
  }
  t.true((HOST_FLAGS.firewall as unknown as { allowNo: boolean }).allowNo)
  t.deepEqual((HOST_FLAGS['iptables-backend'] as unknown as { options: string[] }).options, ['auto', 'nft', 'legacy'])
})

test('readHostOptions: no options give the documented defaults', (t) => {
  const { options, errors } = readHostOptions({})
  t.deepEqual(errors, [])
  t.deepEqual(options, {
    configureDocker: false, dockerNetwork: undefined, daemonJson: DEFAULT_DAEMON_JSON, dockerSocket: DEFAULT_DOCKER_SOCKET,
    dockerRestartCommand: undefined, firewall: true, masquerade: true, iptablesBackend: 'auto', firewallCheckInterval: 3,
  })
})

test('readHostOptions: bad values name the flag and what is expected', (t) => {
  const { errors } = readHostOptions({ 'firewall-check-interval': '0', 'iptables-backend': 'ebpf', 'docker-network': 'bad name', 'configure-docker': true })
  t.is(errors.length, 4)
  t.regex(errors.join('\n'), /--firewall-check-interval "0": expected seconds between 0\.5 and 300/)
  t.regex(errors.join('\n'), /--iptables-backend "ebpf": expected auto, nft or legacy/)
  t.regex(errors.join('\n'), /--configure-docker and --docker-network exclude each other/)
})

test('hostOptions keeps only the host options that were given', (t) => {
  t.deepEqual(hostOptions({ firewall: false, pool: '10.0.0.0/8', 'docker-network': undefined }), { firewall: false })
})
