import { Command, Flags } from '@oclif/core'
import { listLabs, readLab } from '../../lab/lab.js'
import { labReport, labSummary, renderSummary, summaryOk } from '../../lab/report.js'

export default class LabStatus extends Command {
  static override description = "Show a lab: up to 10 hosts, each host's fabric routes and the container-to-container reachability matrix (one per address family in a dual-stack lab); above 10 hosts a summary: agents answering, hosts converged (a fabric route in the kernel to every other host's subnet), routes per host min/median/max, and one round of pings from a sample of 10 containers to all others, in parallel. Exits 1 when a ping fails or a host misses a route."

  static override flags = {
    name: Flags.string({ description: 'lab name', default: 'lab' }),
    matrix: Flags.boolean({ description: 'the full report (every host\'s routes and the whole reachability matrix) whatever the lab\'s size' }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(LabStatus)
    const spec = readLab(flags.name)
    if (!spec) {
      const labs = await listLabs()
      process.stderr.write(`fabric lab status: no lab "${flags.name}"${labs.length ? ` (labs here: ${labs.join(', ')})` : ''}\n`)
      this.exit(1)
    }
    if (spec.hosts.length > 10 && !flags.matrix) {
      const s = await labSummary(spec)
      this.log(renderSummary(spec, s))
      if (!summaryOk(s)) this.exit(1)
      return
    }
    const report = await labReport(spec)
    this.log(report.text)
    if (!report.allReachable) this.exit(1)
  }
}
