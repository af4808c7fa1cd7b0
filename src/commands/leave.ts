import { createInterface } from 'node:readline/promises'
import { Command, Flags } from '@oclif/core'
import { AgentUnreachable, requestLeave } from '../api/client.js'
import { renderLeave } from '../cli-support/render.js'
import { EXIT } from '../core/errors.js'
import { agentOrKernelFlags } from '../cli-support/flags.js'
import { protocolWhenAgentDown } from '../cli-support/kernel-view.js'
import { renderLeftNetworks } from '../cli-support/networks-view.js'
import { removeProtocolRoutes } from '../kernel/remove-all.js'
import { Rtnl } from '../kernel/rtnl.js'

export default class Leave extends Command {
  static override description = `Take this host out of the fabric.

With the agent running: it withdraws this host's subnet from its peers (RIP: metric 16; BGP: withdraw and Cease), removes fabric's routes and undoes the host integration, then exits. With the agent stopped: removes the kernel routes of fabric's protocol. Asks for confirmation unless --yes.`

  static override flags = {
    yes: Flags.boolean({ char: 'y', description: 'do not ask for confirmation' }),
    ...agentOrKernelFlags,
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Leave)
    if (!flags.yes) {
      if (!process.stdin.isTTY) {
        process.stderr.write('fabric leave: confirmation needed; pass --yes to run without a terminal\n')
        this.exit(EXIT.USAGE)
      }
      const rl = createInterface({ input: process.stdin, output: process.stdout })
      const answer = await rl.question("This withdraws this host's subnet from the fabric and removes fabric's routes and firewall rules. Continue? [y/N] ")
      rl.close()
      if (!/^y(es)?$/i.test(answer.trim())) {
        this.log('nothing changed')
        return
      }
    }
    try {
      const r = await requestLeave(flags.socket)
      this.log(renderLeave(r))
      if (r.networks) for (const line of renderLeftNetworks(r.networks)) this.log(line)
      if (r.routesFailed) this.exit(EXIT.RUNTIME)
    } catch (e) {
      if (!(e instanceof AgentUnreachable)) {
        process.stderr.write(`fabric leave: ${(e as Error).message}\n`)
        this.exit(EXIT.RUNTIME)
      }
      const protocol = protocolWhenAgentDown(flags)
      const rtnl = new Rtnl()
      try {
        const r = await removeProtocolRoutes(rtnl, protocol)
        this.log(`agent not running: removed ${r.removed} routes of protocol ${protocol} from the kernel`)
        if (r.failed) this.exit(EXIT.RUNTIME)
      } finally {
        rtnl.close()
      }
    }
  }
}
