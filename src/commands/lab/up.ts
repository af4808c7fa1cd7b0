import { Command, Flags } from '@oclif/core'
import { MODES, type Mode } from '../../config/fabric-config.js'
import { type LabHost, MAX_HOSTS, type Topology, labUp } from '../../lab/lab.js'
import { RR_ENGINES, type RrEngine } from '../../lab/reflectors.js'

export default class LabUp extends Command {
  static override description = 'Create a lab: N simulated hosts in network namespaces on one underlay bridge, each with a docker0 bridge, one container and a running `fabric join`. Labs above ~30 hosts raise the kernel\'s neighbour-table limits (net.ipv4.neigh.default.gc_thresh1/2/3, with --ipv6 net.ipv6.neigh.default.* too) for their run; `lab down` puts them back.'

  static override examples = [
    '<%= config.bin %> lab up --hosts 3 --mode static --name demo',
    '<%= config.bin %> lab up --hosts 200 --mode bgp --topology rr --reflectors 2 --rr-engine bird',
    '<%= config.bin %> lab up --hosts 3 --mode rip --ipv6 --name dual',
    '<%= config.bin %> lab up --hosts 6 --mode bgp --topology rr --rr-engine frr --bfd',
  ]

  static override flags = {
    name: Flags.string({ description: 'lab name: prefix of every namespace and file it creates', default: 'lab' }),
    hosts: Flags.integer({ description: 'number of hosts', default: 3, min: 1, max: MAX_HOSTS }),
    mode: Flags.string({ description: 'fabric mode', options: [...MODES], default: 'static' }),
    topology: Flags.string({ description: 'mesh: every host peers with every other; rr: hosts peer only with the route reflectors (--peer flags; mode bgp)', options: ['mesh', 'rr'], default: 'mesh' }),
    reflectors: Flags.integer({ description: 'route reflectors with --topology rr (one cluster id)', default: 2, min: 1, max: 8 }),
    'rr-engine': Flags.string({ description: 'who reflects: fabric (hosts 1..K run with --route-reflector), or BIRD / FRR in namespaces of their own, configured from templates/', options: [...RR_ENGINES], default: 'fabric' }),
    ipv6: Flags.boolean({ description: 'dual-stack hosts and containers: underlay fd00:99::N/64, pool6 fd00:fab::/48, host N\'s subnet6 fd00:fab:0:N::/64 (docker0 ::1, the container ::2); with --topology rr only fabric\'s own reflectors (--rr-engine fabric)', default: false }),
    bfd: Flags.boolean({ description: 'BFD (RFC 5880/5881) between every agent and its BGP peers or RIP neighbours, and between BIRD/FRR reflectors and their clients (the BFD block of templates/*-route-reflector.conf): a dead host is noticed in interval x multiplier instead of the hold time, also ending graceful-restart helper mode for it (mode bgp or rip)', default: false }),
    'bfd-interval': Flags.integer({ description: 'BFD transmit and receive interval in ms with --bfd', default: 100, min: 10, max: 10_000 }),
    'bfd-multiplier': Flags.integer({ description: 'BFD packets missed before a neighbour is declared down, with --bfd', default: 3, min: 1, max: 255 }),
    sysctl: Flags.boolean({ description: 'raise the neighbour-table limits when the lab needs more (--no-sysctl: refuse instead, naming the sysctl and value)', default: true, allowNo: true }),
    'log-level': Flags.string({ description: "agents' log level", default: 'debug', options: ['debug', 'info', 'warn', 'error'] }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(LabUp)
    try {
      const t0 = Date.now()
      const spec = await labUp({
        name: flags.name, hosts: flags.hosts, mode: flags.mode as Mode, logLevel: flags['log-level'], topology: flags.topology as Topology,
        reflectors: flags.reflectors, rrEngine: flags['rr-engine'] as RrEngine, sysctl: flags.sysctl, ipv6: flags.ipv6,
        bfd: flags.bfd ? { interval: flags['bfd-interval'], multiplier: flags['bfd-multiplier'] } : false,
      })
      const one = (h: LabHost): string => `${h.name} ${h.address} ${h.subnet}${h.subnet6 ? ` ${h.address6} ${h.subnet6}` : ''}`
      const list = spec.hosts.length <= 10 ? spec.hosts.map(one).join(', ') : `${one(spec.hosts[0]!)} ... ${one(spec.hosts.at(-1)!)}`
      this.log(`lab ${spec.name} is up in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${spec.hosts.length} hosts (${list})`)
      if (spec.topology === 'rr') this.log(`route reflectors (${spec.reflectors[0]!.engine}, cluster id ${spec.clusterId}): ${spec.reflectors.map((r) => `${r.address} in ${r.ns}`).join(', ')}`)
      if (spec.bfd) this.log(`BFD ${spec.bfd.interval} ms x ${spec.bfd.multiplier} with every ${spec.mode === 'rip' ? 'neighbour' : 'peer'}${spec.reflectors.some((r) => r.engine !== 'fabric') ? ` (the ${spec.reflectors[0]!.engine === 'bird' ? 'BIRD' : 'FRR'} reflectors too)` : ''}: a dead host is noticed in ${spec.bfd.interval * spec.bfd.multiplier} ms`)
      this.log(`config ${spec.config}; agent logs and sockets under ${spec.hosts[0]!.dir.replace(/\/h1$/, '')}/hN`)
      this.log(`see it with: fabric lab status --name ${spec.name}; remove it with: fabric lab down --name ${spec.name}`)
    } catch (e) {
      process.stderr.write(`fabric lab up: ${(e as Error).message}\n`)
      this.exit(1)
    }
  }
}
