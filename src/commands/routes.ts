import { Command, Flags } from '@oclif/core'
import { AgentUnreachable, getJson } from '../agent/control-client.js'
import { type RouteRow, renderRouteTable } from '../agent/routes-view.js'
import { EXIT } from '../cli-support/exit.js'
import { DEFAULT_CONFIG, configFlag, jsonFlag, socketFlag, stateDirFlag } from '../cli-support/flags.js'
import { kernelRows, resolveRouteProtocol } from '../cli-support/kernel-view.js'

export default class Routes extends Command {
  static override description = `Show the routes fabric learned and their kernel state.

One row per prefix: next hop, device, source and peer, metric, age and state (installed, pending, conflict, not-on-link, error, stale). When the agent is not running, shows fabric's routes read from the kernel and exits 1.`

  static override flags = {
    json: jsonFlag,
    socket: socketFlag,
    config: configFlag,
    'state-dir': stateDirFlag,
    'route-protocol': Flags.string({ description: 'protocol to read from the kernel when the agent is down [default: from fabric.ini, else fabric]', env: 'FABRIC_ROUTE_PROTOCOL' }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Routes)
    try {
      const body = await getJson<{ host: string; routes: RouteRow[] }>(flags.socket, '/v1/routes')
      if (flags.json) this.log(JSON.stringify({ agent: 'running', host: body.host, routes: body.routes }, null, 2))
      else this.log(body.routes.length ? renderRouteTable(body.routes) : 'no routes')
      return
    } catch (e) {
      if (!(e instanceof AgentUnreachable)) {
        process.stderr.write(`fabric routes: ${(e as Error).message}\n`)
        this.exit(EXIT.RUNTIME)
      }
      const protocol = resolveRouteProtocol(flags['route-protocol'], flags.config ?? DEFAULT_CONFIG, flags['state-dir'])
      const rows = await kernelRows(protocol)
      if (flags.json) this.log(JSON.stringify({ agent: 'down', error: e.message, routes: rows }, null, 2))
      else {
        process.stderr.write(`fabric routes: ${e.message}\nshowing routes of protocol ${protocol} from the kernel:\n`)
        this.log(rows.length ? renderRouteTable(rows) : 'no routes')
      }
      this.exit(EXIT.RUNTIME)
    }
  }
}
