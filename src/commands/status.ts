import { Command } from '@oclif/core'
import { AgentUnreachable, getJson } from '../agent/control-client.js'
import { renderRouteTable } from '../agent/routes-view.js'
import { EXIT } from '../core/errors.js'
import { agentOrKernelFlags, jsonFlag } from '../cli-support/flags.js'
import { kernelRows, protocolWhenAgentDown } from '../cli-support/kernel-view.js'

interface Status {
  version: string
  healthy: boolean
  host: { name: string; address: string; subnet: string; interface: string; underlay: string }
  mode: string
  routerId: string | null
  asn: number | null
  config: string | null
  pool: string
  routeProtocol: number
  pid: number
  uptime: number
  kernel: { inSync: boolean; routes: Record<string, number>; reconciles: number; opsApplied: number; opsFailed: number; lastError: string | null }
  hostIntegration?: Record<string, unknown> & { inSync: boolean }
  sources?: { kind: string; ready: boolean; peers: number; stats: Record<string, unknown> }[]
  conflicts: { prefix: string; reason: string }[]
  warnings: string[]
}

export default class StatusCmd extends Command {
  static override description = 'Show this host, its mode, whether the kernel is in sync, conflicts and warnings. Exits 1 when unhealthy or the agent is down (usable as a health check).'

  static override flags = {
    json: jsonFlag,
    ...agentOrKernelFlags,
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(StatusCmd)
    let s: Status
    try {
      s = await getJson<Status>(flags.socket, '/v1/status')
    } catch (e) {
      const msg = e instanceof AgentUnreachable ? e.message : `agent error: ${(e as Error).message}`
      const down = e instanceof AgentUnreachable && e.reason !== 'EACCES'
      // the agent is down: what is still routing is what fabric left in the kernel
      const protocol = protocolWhenAgentDown(flags)
      const rows = down ? await kernelRows(protocol).catch(() => []) : []
      if (flags.json) this.log(JSON.stringify({ healthy: false, agent: 'down', error: msg, kernelRoutes: rows }, null, 2))
      else {
        process.stderr.write(`fabric status: ${msg}\n`)
        if (down) this.log(`agent     DOWN\nkernel    ${rows.length} routes of protocol ${protocol} left in place${rows.length ? `:\n${renderRouteTable(rows)}` : ''}\nhealth    UNHEALTHY`)
      }
      this.exit(EXIT.RUNTIME)
    }
    if (flags.json) this.log(JSON.stringify(s, null, 2))
    else {
      const r = s.kernel.routes
      this.log([
        `host      ${s.host.name} ${s.host.address} on ${s.host.interface} (${s.host.underlay}), subnet ${s.host.subnet}`,
        `fabric    mode ${s.mode}${s.routerId ? ` (AS ${s.asn}, router id ${s.routerId})` : ''}, pool ${s.pool}, route protocol ${s.routeProtocol}, config ${s.config ?? '-'}`,
        `agent     fabric ${s.version}, pid ${s.pid}, up ${s.uptime}s`,
        `kernel    ${s.kernel.inSync ? 'in sync' : 'NOT in sync'}: ${r.installed}/${r.wanted} routes installed` +
          `${r.conflict ? `, ${r.conflict} conflict` : ''}${r.notOnLink ? `, ${r.notOnLink} not on-link` : ''}${r.error ? `, ${r.error} error` : ''}${r.pending ? `, ${r.pending} pending` : ''}`,
        ...(s.sources ?? []).map((src) => `source    ${src.kind}: ${src.ready ? 'ready' : 'gathering its initial table'}, ${src.peers} peers${dropSummary(src.stats)}`),
        ...(s.hostIntegration ? [`host      ${s.hostIntegration.inSync ? 'integration in sync' : 'integration NOT in sync'}${Object.entries(s.hostIntegration).filter(([k]) => k !== 'inSync').map(([k, v]) => `, ${k} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('')}`] : []),
        ...s.conflicts.map((c) => `conflict  ${c.prefix}: ${c.reason}`),
        ...s.warnings.map((w) => `warning   ${w}`),
        `health    ${s.healthy ? 'healthy' : 'UNHEALTHY'}`,
      ].join('\n'))
    }
    if (!s.healthy) this.exit(EXIT.RUNTIME)
  }
}

/** ", 12 dropped (auth-bad-digest 10, bad-port 2)" from a source's counters */
function dropSummary(stats: Record<string, unknown>): string {
  const flat: [string, number][] = []
  const walk = (o: Record<string, unknown>): void => {
    for (const [k, v] of Object.entries(o)) {
      if (typeof v === 'number' && /^drop-(packet|message):/.test(k) && v > 0) flat.push([k.replace(/^drop-(packet|message):/, ''), v])
      else if (v && typeof v === 'object' && !Array.isArray(v)) walk(v as Record<string, unknown>)
    }
  }
  walk(stats)
  if (flat.length === 0) return ''
  const total = flat.reduce((a, [, v]) => a + v, 0)
  return `, ${total} packets dropped (${flat.map(([k, v]) => `${k} ${v}`).join(', ')})`
}
