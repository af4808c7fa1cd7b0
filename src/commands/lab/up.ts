import { Command, Flags } from '@oclif/core'
import { MODES, type Mode } from '../../config/fabric-config.js'
import { labUp } from '../../lab/lab.js'

export default class LabUp extends Command {
  static override description = 'Create a lab: N simulated hosts in network namespaces on one underlay bridge, each with a docker0 bridge, one container and a running `fabric join`.'

  static override examples = ['<%= config.bin %> lab up --hosts 3 --mode static --name demo']

  static override flags = {
    name: Flags.string({ description: 'lab name: prefix of every namespace and file it creates', default: 'lab' }),
    hosts: Flags.integer({ description: 'number of hosts', default: 3, min: 1, max: 200 }),
    mode: Flags.string({ description: 'fabric mode', options: [...MODES], default: 'static' }),
    'log-level': Flags.string({ description: "agents' log level", default: 'debug', options: ['debug', 'info', 'warn', 'error'] }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(LabUp)
    try {
      const spec = await labUp({ name: flags.name, hosts: flags.hosts, mode: flags.mode as Mode, logLevel: flags['log-level'] })
      this.log(`lab ${spec.name} is up: ${spec.hosts.length} hosts (${spec.hosts.map((h) => `${h.name} ${h.address} ${h.subnet}`).join(', ')})`)
      this.log(`config ${spec.config}; agent logs and sockets under ${spec.hosts[0]!.dir.replace(/\/h1$/, '')}/hN`)
      this.log(`see it with: fabric lab status --name ${spec.name}; remove it with: fabric lab down --name ${spec.name}`)
    } catch (e) {
      process.stderr.write(`fabric lab up: ${(e as Error).message}\n`)
      this.exit(1)
    }
  }
}
