import { Command } from '@oclif/core'
import { AgentUnreachable, getJson } from '../agent/control-client.js'
import { EXIT } from '../cli-support/exit.js'
import { jsonFlag, socketFlag } from '../cli-support/flags.js'

interface Status {
  version: string
  healthy: boolean
  host: { name: string; address: string; subnet: string; interface: string; underlay: string }
  mode: string
  config: string | null
  pool: string
  routeProtocol: number
  pid: number
  uptime: number
  kernel: { inSync: boolean; routes: Record<string, number>; reconciles: number; opsApplied: number; opsFailed: number; lastError: string | null }
  conflicts: { prefix: string; reason: string }[]
  warnings: string[]
}

export default class StatusCmd extends Command {
  static override description = 'Show this host, its mode, whether the kernel is in sync, conflicts and warnings. Exits 1 when unhealthy or the agent is down (usable as a health check).'

  static override flags = { json: jsonFlag, socket: socketFlag }

  async run(): Promise<void> {
    const { flags } = await this.parse(StatusCmd)
    let s: Status
    try {
      s = await getJson<Status>(flags.socket, '/v1/status')
    } catch (e) {
      const msg = e instanceof AgentUnreachable ? e.message : `agent error: ${(e as Error).message}`
      if (flags.json) this.log(JSON.stringify({ healthy: false, agent: 'down', error: msg }, null, 2))
      else process.stderr.write(`fabric status: ${msg}\n`)
      this.exit(EXIT.RUNTIME)
    }
    if (flags.json) this.log(JSON.stringify(s, null, 2))
    else {
      const r = s.kernel.routes
      this.log([
        `host      ${s.host.name} ${s.host.address} on ${s.host.interface} (${s.host.underlay}), subnet ${s.host.subnet}`,
        `fabric    mode ${s.mode}, pool ${s.pool}, route protocol ${s.routeProtocol}, config ${s.config ?? '-'}`,
        `agent     fabric ${s.version}, pid ${s.pid}, up ${s.uptime}s`,
        `kernel    ${s.kernel.inSync ? 'in sync' : 'NOT in sync'}: ${r.installed}/${r.wanted} routes installed` +
          `${r.conflict ? `, ${r.conflict} conflict` : ''}${r.notOnLink ? `, ${r.notOnLink} not on-link` : ''}${r.error ? `, ${r.error} error` : ''}${r.pending ? `, ${r.pending} pending` : ''}`,
        ...s.conflicts.map((c) => `conflict  ${c.prefix}: ${c.reason}`),
        ...s.warnings.map((w) => `warning   ${w}`),
        `health    ${s.healthy ? 'healthy' : 'UNHEALTHY'}`,
      ].join('\n'))
    }
    if (!s.healthy) this.exit(EXIT.RUNTIME)
  }
}
