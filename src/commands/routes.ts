import { Args, Command, Flags } from '@oclif/core'
import { AgentUnreachable, getRoutes, streamJson } from '../api/client.js'
import { renderRouteTable } from '../api/render.js'
import { filterRouteRows } from '../api/route-rows.js'
import { API, type RouteRow, type RoutesResponse } from '../api/types.js'
import { EXIT } from '../core/errors.js'
import { agentOrKernelFlags, jsonFlag } from '../cli-support/flags.js'
import { kernelRows, networksWhenAgentDown, protocolWhenAgentDown } from '../cli-support/kernel-view.js'
import { labelNetworks } from '../api/route-rows.js'

/** Events that change what `fabric routes` shows. */
const ROUTE_EVENTS = new Set(['route-added', 'route-removed', 'route-replaced', 'route-conflict', 'route-conflict-cleared', 'route-refused', 'route-op-failed', 'routes-changed', 'kernel-route-drift'])

export default class Routes extends Command {
  static override description = `Show the routes fabric learned and their kernel state.

One row per prefix, IPv4 rows first, then IPv6 ones (dual-stack hosts; --family 4 or 6 shows one family): its fabric network (NETWORK, shown when [network.NAME] sections are in use), next hop, device, source and peer, metric (RIP hops, BGP MED) or AS path, age and state: installed, pending, conflict (another protocol's route holds the prefix), not-on-link, error, stale. The reason for any state but installed follows the table. When the agent is not running, shows fabric's routes read from the kernel and exits 1.`

  static override examples = [
    '<%= config.bin %> routes',
    '<%= config.bin %> routes 10.244.3.17            # the route used for this address (longest match)',
    '<%= config.bin %> routes --source bgp --peer 192.168.18.130 --json',
    '<%= config.bin %> routes --network backend        # only the routes of one fabric network',
    '<%= config.bin %> routes --family 6               # only the IPv6 routes',
    '<%= config.bin %> routes fd00:fab:0:3::17         # the IPv6 route used for this address',
    '<%= config.bin %> routes --watch',
  ]

  static override args = {
    match: Args.string({ description: 'an address or prefix: show only the longest matching route', required: false }),
  }

  static override flags = {
    json: jsonFlag,
    family: Flags.string({ description: 'only routes of this address family (default: both)', options: ['4', '6'] }),
    source: Flags.string({ description: 'only routes from this source', options: ['static', 'rip', 'ripng', 'bgp', 'kernel'] }),
    peer: Flags.string({ description: 'only routes from this peer (host name or address)' }),
    network: Flags.string({ description: "only routes of this fabric network ([network.NAME], or default for [fabric] pool's)" }),
    watch: Flags.boolean({ char: 'w', description: 'print the table, then every route change as it happens (Ctrl-C to stop)' }),
    ...agentOrKernelFlags,
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Routes)
    const filter = { family: flags.family === undefined ? undefined : (Number(flags.family) as 4 | 6), source: flags.source, peer: flags.peer, network: flags.network, match: args.match }
    const show = (rows: RouteRow[]): RouteRow[] => {
      const f = filterRouteRows(rows, filter)
      if ('error' in f) {
        process.stderr.write(`fabric routes: ${f.error}\n`)
        this.exit(EXIT.USAGE)
      }
      return f
    }
    let body: RoutesResponse
    try {
      body = await getRoutes(flags.socket)
    } catch (e) {
      if (!(e instanceof AgentUnreachable) || e.reason === 'EACCES') {
        process.stderr.write(`fabric routes: ${(e as Error).message}\n`)
        this.exit(EXIT.RUNTIME)
      }
      const protocol = protocolWhenAgentDown(flags)
      const rows = show(labelNetworks(await kernelRows(protocol), networksWhenAgentDown(flags)))
      if (flags.json) this.log(JSON.stringify({ agent: 'down', error: e.message, routes: rows }, null, 2))
      else {
        process.stderr.write(`fabric routes: ${e.message}\nshowing routes of protocol ${protocol} from the kernel:\n`)
        this.log(rows.length ? renderRouteTable(rows) : 'no routes')
      }
      this.exit(EXIT.RUNTIME)
    }
    const rows = show(body.routes)
    if (flags.json && !flags.watch) return this.log(JSON.stringify({ agent: 'running', host: body.host, routes: rows }, null, 2))
    if (!flags.json) this.log(rows.length ? renderRouteTable(rows) : 'no routes')
    if (!flags.watch) return
    // --watch: one line (or, with --json, one JSON object) per route change
    const ac = new AbortController()
    process.once('SIGINT', () => ac.abort())
    process.once('SIGTERM', () => ac.abort())
    await streamJson(flags.socket, API.events, (e) => {
      if (!ROUTE_EVENTS.has(String(e.event))) return
      if (filter.peer && e.peer !== undefined && e.peer !== filter.peer) return
      if (flags.json) return this.log(JSON.stringify(e))
      const { time, event, level, ...rest } = e
      void level
      const what = [rest.prefix, rest.nextHop ? `via ${rest.nextHop}` : rest.gateway ? `via ${rest.gateway}` : undefined, rest.peer ? `(${rest.peer})` : undefined, rest.reason ?? (rest.operations !== undefined ? `${rest.operations} operations` : undefined)]
        .filter((x) => x !== undefined && x !== null && x !== '').join(' ')
      this.log(`${String(time).slice(11, 19)} ${String(event).padEnd(22)} ${what}`)
    }, ac.signal).catch((err: Error) => {
      process.stderr.write(`fabric routes --watch: ${err.message}\n`)
      this.exit(EXIT.RUNTIME)
    })
  }
}
