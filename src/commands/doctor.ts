import { existsSync } from 'node:fs'
import { Command, Flags } from '@oclif/core'
import { EXIT } from '../core/errors.js'
import { DEFAULT_CONFIG, configFlag, jsonFlag, socketFlag, stateDirFlag } from '../cli-support/flags.js'
import { renderDoctor } from '../cli-support/render.js'
import { runDoctor } from '../doctor/checks.js'

export default class Doctor extends Command {
  static override description = `Check this host for everything fabric needs, with a fix for each problem.

ip_forward, rp_filter, the FORWARD policy and Docker's rules, the masquerade exemption, next hops on-link, the pool overlapping other routes or the underlay, docker0's subnet, other routing daemons owning pool prefixes, the agent's routes and conflicts, MTU, and each peer: path MTU, TCP 179 (BGP) or RIP updates heard. Works with the agent stopped. Exits 1 when a check fails.`

  static override flags = {
    json: jsonFlag,
    config: configFlag,
    socket: socketFlag,
    'state-dir': stateDirFlag,
    address: Flags.string({ description: "this host's underlay address (default: from the agent, state.json or fabric.ini)", env: 'FABRIC_ADDRESS' }),
    timeout: Flags.integer({ description: 'seconds to wait for each peer probe', default: 2, min: 1, max: 30 }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Doctor)
    const configFile = flags.config ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined)
    const checks = await runDoctor({ configFile, socket: flags.socket, stateDir: flags['state-dir'], address: flags.address, timeoutS: flags.timeout })
    const failed = checks.filter((c) => c.result === 'fail')
    if (flags.json) this.log(JSON.stringify({ healthy: failed.length === 0, checks }, null, 2))
    else this.log(renderDoctor(checks))
    if (failed.length) this.exit(EXIT.RUNTIME)
  }
}
