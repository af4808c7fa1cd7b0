import { Command } from '@oclif/core'
import { oclifFlags } from '../cli-support/flags.js'
import { JOIN_FLAGS } from '../cli-support/join-flags.js'
import type { FlagValues } from '../cli-support/plain-flags.js'
import { runJoin } from './join-main.js'

export default class Join extends Command {
  static override description = `Join this host to the fabric: run the agent in the foreground.

Reads fabric.ini (every key can be given as a flag or FABRIC_* env var; flags win), finds this host by its interface addresses (or --address), enables IPv4 forwarding and installs a route to every other host's container subnet via its underlay address. SIGHUP re-reads fabric.ini; SIGTERM/SIGINT stop the agent and leave its routes in place, and a restart adopts them.`

  static override examples = [
    '<%= config.bin %> join --config /etc/fabric/fabric.ini',
    '<%= config.bin %> join --config fabric.ini --address 192.168.18.128 --log-level debug',
  ]

  /** built from the plain description in cli-support/join-flags.ts, which `fabric join`'s direct start (cli.ts) parses without oclif */
  static override flags = oclifFlags(JOIN_FLAGS)

  async run(): Promise<void> {
    const { flags } = await this.parse(Join)
    await runJoin(flags as FlagValues, (message, code) => this.fail(message, code))
  }

  private fail(message: string, code: number): never {
    process.stderr.write(`fabric join: ${message}\n`)
    this.exit(code)
  }
}
