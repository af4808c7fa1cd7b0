import { Command } from '@oclif/core'
import { AgentUnreachable, getJson } from '../agent/control-client.js'
import { formatAge, renderTable } from '../agent/routes-view.js'
import type { PeerStatus } from '../rib/source.js'
import { EXIT } from '../cli-support/exit.js'
import { jsonFlag, socketFlag } from '../cli-support/flags.js'

export default class Peers extends Command {
  static override description = 'Show the peers this host learns routes from (static hosts, RIP neighbours, BGP sessions).'

  static override flags = { json: jsonFlag, socket: socketFlag }

  async run(): Promise<void> {
    const { flags } = await this.parse(Peers)
    try {
      const body = await getJson<{ host: string; peers: (PeerStatus & { source: string })[] }>(flags.socket, '/v1/peers')
      if (flags.json) return this.log(JSON.stringify(body, null, 2))
      const now = Date.now()
      this.log(renderTable(['PEER', 'ADDRESS', 'SOURCE', 'STATE', 'SINCE', 'RECEIVED', 'ACCEPTED', 'LAST ERROR'], body.peers.map((p) => [
        p.peer, p.address, p.source, p.state, formatAge(p.since ? Math.round((now - p.since) / 1000) : null),
        String(p.received ?? '-'), String(p.accepted ?? '-'), p.lastError ?? '-',
      ])))
    } catch (e) {
      process.stderr.write(`fabric peers: ${e instanceof AgentUnreachable ? e.message : (e as Error).message}\n`)
      this.exit(EXIT.RUNTIME)
    }
  }
}
