import { Command } from '@oclif/core'
import { AgentUnreachable, getStatus } from '../api/client.js'
import type { StatusResponse } from '../api/types.js'
import { renderStatus, renderStatusDown } from '../cli-support/render.js'
import { EXIT } from '../core/errors.js'
import { agentOrKernelFlags, jsonFlag } from '../cli-support/flags.js'
import { kernelRows, protocolWhenAgentDown } from '../cli-support/kernel-view.js'
import { renderNetworks } from '../cli-support/networks-view.js'

export default class StatusCmd extends Command {
  static override description = 'Show this host, its mode, whether the kernel is in sync, conflicts and warnings. Exits 1 when unhealthy or the agent is down (usable as a health check).'

  static override flags = {
    json: jsonFlag,
    ...agentOrKernelFlags,
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(StatusCmd)
    let s: StatusResponse
    try {
      s = await getStatus(flags.socket)
    } catch (e) {
      const msg = e instanceof AgentUnreachable ? e.message : `agent error: ${(e as Error).message}`
      const down = e instanceof AgentUnreachable && e.reason !== 'EACCES'
      // the agent is down: what is still routing is what fabric left in the kernel
      const protocol = protocolWhenAgentDown(flags)
      const rows = down ? await kernelRows(protocol).catch(() => []) : []
      if (flags.json) this.log(JSON.stringify({ healthy: false, agent: 'down', error: msg, kernelRoutes: rows }, null, 2))
      else {
        process.stderr.write(`fabric status: ${msg}\n`)
        if (down) this.log(renderStatusDown(protocol, rows))
      }
      this.exit(EXIT.RUNTIME)
    }
    if (flags.json) this.log(JSON.stringify(s, null, 2))
    else {
      this.log(renderStatus(s))
      if (s.networks) this.log(`\n${renderNetworks(s.networks)}`)
    }
    if (!s.healthy) this.exit(EXIT.RUNTIME)
  }
}
