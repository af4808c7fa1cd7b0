import { Command, Flags } from '@oclif/core'
import { listLabs, readLab } from '../../lab/lab.js'
import { labReport } from '../../lab/report.js'

export default class LabStatus extends Command {
  static override description = "Show each lab host's fabric routes and a container-to-container reachability matrix. Exits 1 when a pair cannot reach each other."

  static override flags = { name: Flags.string({ description: 'lab name', default: 'lab' }) }

  async run(): Promise<void> {
    const { flags } = await this.parse(LabStatus)
    const spec = readLab(flags.name)
    if (!spec) {
      const labs = await listLabs()
      process.stderr.write(`fabric lab status: no lab "${flags.name}"${labs.length ? ` (labs here: ${labs.join(', ')})` : ''}\n`)
      this.exit(1)
    }
    const report = await labReport(spec)
    this.log(report.text)
    if (!report.allReachable) this.exit(1)
  }
}
