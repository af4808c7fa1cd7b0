import { Command, Flags } from '@oclif/core'
import { AgentUnreachable, getJson } from '../agent/control-client.js'
import { formatAge, renderTable } from '../agent/routes-view.js'
import type { PeerStatus } from '../rib/source.js'
import { EXIT } from '../core/errors.js'
import { jsonFlag, socketFlag } from '../cli-support/flags.js'

export default class Peers extends Command {
  static override description = `Show where routes come from: static hosts, RIP neighbours, BGP sessions.

One row per peer: address, AS (BGP) or protocol, state (BGP: Idle..Established; RIP: up/down), time since the last state change, prefixes received / accepted / sent, and the last error (NOTIFICATION text, authentication failures, bad packets dropped).`

  static override flags = {
    json: jsonFlag,
    socket: socketFlag,
    source: Flags.string({ description: 'only peers of this source', options: ['static', 'rip', 'bgp'] }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Peers)
    let body: { host: string; peers: (PeerStatus & { source: string })[] }
    try {
      body = await getJson(flags.socket, '/v1/peers')
    } catch (e) {
      process.stderr.write(`fabric peers: ${e instanceof AgentUnreachable ? e.message : (e as Error).message}\n`)
      this.exit(EXIT.RUNTIME)
    }
    const peers = flags.source ? body.peers.filter((p) => p.source === flags.source) : body.peers
    if (flags.json) return this.log(JSON.stringify({ host: body.host, peers }, null, 2))
    if (peers.length === 0) return this.log('no peers')
    const now = Date.now()
    const n = (v: number | undefined): string => (v === undefined ? '-' : String(v))
    this.log(renderTable(['PEER', 'ADDRESS', 'AS/PROTO', 'STATE', 'SINCE', 'RCVD', 'ACCEPT', 'SENT', 'LAST ERROR'], peers.map((p) => [
      p.peer, p.address, p.asn !== undefined ? String(p.asn) : p.source, p.state,
      formatAge(p.since ? Math.max(0, Math.round((now - p.since) / 1000)) : null),
      n(p.received), n(p.accepted), n(p.sent), p.lastError ?? '-',
    ])))
  }
}
