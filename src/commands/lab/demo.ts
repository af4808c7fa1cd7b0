import { Command, Flags } from '@oclif/core'
import { MODES, type Mode } from '../../config/fabric-config.js'
import { labDown, labUp, reachability, sleep, waitConverged6 } from '../../lab/lab.js'
import { labReport, operatorView, waitConverged } from '../../lab/report.js'

export default class LabDemo extends Command {
  static override description = 'The demo: bring up a lab of simulated hosts, print every host\'s fabric routes and the container reachability matrix, then remove it (unless --keep).'

  static override flags = {
    hosts: Flags.integer({ description: 'number of hosts', default: 3, min: 2, max: 50 }),
    mode: Flags.string({ description: 'fabric mode', options: [...MODES], default: 'static' }),
    name: Flags.string({ description: 'lab name', default: 'demo' }),
    ipv6: Flags.boolean({ description: 'dual-stack hosts: containers reach each other over IPv4 and IPv6 (pool6 fd00:fab::/48)', default: false }),
    bfd: Flags.boolean({ description: 'BFD (100 ms x 3) between the agents (mode bgp or rip), as `lab up --bfd`', default: false }),
    keep: Flags.boolean({ description: 'leave the lab running (remove it later with `fabric lab down --name demo`)' }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(LabDemo)
    await labDown(flags.name) // a previous demo that crashed
    let ok = false
    const cleanup = async (): Promise<void> => {
      if (!flags.keep) await labDown(flags.name)
    }
    process.once('SIGINT', () => void cleanup().then(() => process.exit(130)))
    try {
      this.log(`bringing up ${flags.hosts} ${flags.ipv6 ? 'dual-stack ' : ''}hosts in mode ${flags.mode}${flags.bfd ? ' with BFD' : ''} (lab "${flags.name}")...`)
      const spec = await labUp({ name: flags.name, hosts: flags.hosts, mode: flags.mode as Mode, logLevel: 'info', ipv6: flags.ipv6, bfd: flags.bfd })
      const converged = (await waitConverged(spec, 60_000)) && (!flags.ipv6 || (await waitConverged6(spec, 60_000)))
      if (!converged) this.log('(not every host has every route after 60 s; showing what there is)')
      await sleep(200)
      const report = await labReport(spec)
      this.log(report.text)
      this.log('')
      this.log(await operatorView(spec))
      // IPv6: every pair pinged again over IPv6 for the verdict (the report above shows the matrix)
      const failed6 = flags.ipv6 ? (await reachability(spec, 1, 6)).filter((r) => !r.ok) : []
      ok = report.allReachable && failed6.length === 0
      this.log('')
      if (failed6.length) this.log(`over IPv6, ${failed6.map((r) => `${r.from}->${r.to}`).join(', ')} failed`)
      this.log(ok
        ? `every container reaches every other${flags.ipv6 ? ' over IPv4 and IPv6' : ''}: routed, no encapsulation, no NAT.`
        : 'some containers cannot reach each other: see the routes above and the agent logs')
      if (flags.keep) this.log(`lab kept: fabric lab status --name ${flags.name}; fabric lab down --name ${flags.name}`)
    } catch (e) {
      process.stderr.write(`fabric lab demo: ${(e as Error).message}\n`)
    } finally {
      await cleanup()
    }
    if (!ok) this.exit(1)
  }
}
