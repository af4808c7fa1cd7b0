import { Command, Flags } from '@oclif/core'
import { labDown, listLabs } from '../../lab/lab.js'

export default class LabDown extends Command {
  static override description = 'Remove a lab: its agents and other processes, namespaces and files, and put back neighbour-table limits it raised (works after a crash too).'

  static override flags = {
    name: Flags.string({ description: 'lab name', default: 'lab' }),
    all: Flags.boolean({ description: 'remove every lab on this machine' }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(LabDown)
    const names = flags.all ? await listLabs() : [flags.name]
    for (const name of names) {
      const r = await labDown(name)
      this.log(`lab ${name}: removed ${r.namespaces} namespaces, stopped ${r.processes} processes`)
      if (r.restored.length) this.log(`restored ${r.restored.join(', ')}`)
    }
  }
}
