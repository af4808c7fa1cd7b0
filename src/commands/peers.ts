import { Command, Flags } from '@oclif/core'
import { getPeers } from '../api/client.js'
import type { PeersResponse } from '../api/types.js'
import { renderPeers } from '../cli-support/render.js'
import { EXIT } from '../core/errors.js'
import { jsonFlag, socketFlag } from '../cli-support/flags.js'

export default class Peers extends Command {
  static override description = `Show where routes come from: static hosts, RIP neighbours, BGP sessions.

One row per peer: address, AS (BGP) or protocol, state (BGP: Idle..Established; RIP: up/down), time since the last state change, prefixes received / accepted / sent, and the last error (NOTIFICATION text, authentication failures, bad packets dropped).`

  static override flags = {
    json: jsonFlag,
    socket: socketFlag,
    source: Flags.string({ description: 'only peers of this source', options: ['static', 'rip', 'bgp'] }),
    verbose: Flags.boolean({ char: 'v', description: 'a line per peer after the table: graceful-restart capabilities, BFD counters, IPv6 unicast counts', default: false }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Peers)
    let body: PeersResponse
    try {
      body = await getPeers(flags.socket)
    } catch (e) {
      process.stderr.write(`fabric peers: ${(e as Error).message}\n`)
      this.exit(EXIT.RUNTIME)
    }
    const peers = flags.source ? body.peers.filter((p) => p.source === flags.source) : body.peers
    if (flags.json) return this.log(JSON.stringify({ host: body.host, peers }, null, 2))
    this.log(renderPeers(peers, Date.now(), flags.verbose))
  }
}
