/**
 * What `fabric join` does once its flags are parsed, with no @oclif/core:
 * the oclif command (join.ts) calls runJoin, and so does the CLI's direct
 * path (cli.ts -> joinDirect), which parses the flags itself and leaves
 * anything unusual (help, errors) to oclif. The agent then runs without
 * oclif in its memory.
 */
import { existsSync } from 'node:fs'
import { Agent } from '../agent/agent.js'
import { EventHub } from '../agent/events.js'
import { tuneHeapForAgent } from '../agent/heap.js'
import { type Level, createLogger } from '../core/log.js'
import { ConfigErrors } from '../config/errors.js'
import { AgentStartError, EXIT } from '../core/errors.js'
import { hostOptions } from '../host/flags.js'
import { JOIN_FLAGS, joinOverrides } from '../cli-support/join-flags.js'
import { DEFAULT_CONFIG, type FlagValues, parseFlagsFast } from '../cli-support/plain-flags.js'

/** Reports a start failure (`fabric join: MESSAGE` on stderr) and exits with the code. */
export type Fail = (message: string, code: number) => never

const str = (v: FlagValues[string]): string | undefined => (typeof v === 'string' ? v : undefined)

/** Runs the agent in the foreground until SIGTERM / SIGINT or `fabric leave`. */
export async function runJoin(flags: FlagValues, fail: Fail): Promise<void> {
  tuneHeapForAgent()
  const events = new EventHub()
  const log = createLogger({ level: flags['log-level'] as Level, format: flags['log-format'] as 'json' | 'human' | undefined, tap: (l, e, f) => events.publish(l, e, f) })
  const configFile = str(flags.config) ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined)
  const agent = new Agent({
    configFile,
    address: str(flags.address),
    overrides: joinOverrides(flags),
    stateDir: flags['state-dir'] as string,
    socket: flags.socket as string,
    log,
    rtProtosDir: process.env.FABRIC_RT_PROTOS_DIR,
    hostOptions: hostOptions(flags),
    onLeft: () => left?.(),
    events,
    metricsListen: str(flags['metrics-listen']),
  })
  let left: (() => void) | undefined
  try {
    await agent.start()
  } catch (e) {
    await agent.stop().catch(() => undefined)
    if (e instanceof ConfigErrors) fail(`invalid configuration, nothing was changed:\n${e.message}`, EXIT.USAGE)
    if (e instanceof AgentStartError) fail(e.message, e.exitCode)
    fail(`cannot start: ${(e as Error).message}`, EXIT.RUNTIME)
  }
  await new Promise<void>((resolve) => {
    left = () => void agent.stop().then(resolve)
    const stop = (signal: string): void => {
      log.info('signal', { signal })
      void agent.stop().then(resolve)
    }
    process.on('SIGTERM', () => stop('SIGTERM'))
    process.on('SIGINT', () => stop('SIGINT'))
    process.on('SIGHUP', () => {
      log.info('signal', { signal: 'SIGHUP' })
      void agent.reload()
    })
  })
}

/**
 * `fabric join ARGS` without oclif when every argument is a known flag with a
 * valid value; false (nothing done) when oclif must parse them.
 */
export async function joinDirect(argv: readonly string[]): Promise<boolean> {
  const flags = parseFlagsFast(argv, JOIN_FLAGS, process.env)
  if (flags === undefined) return false
  await runJoin(flags, (message, code) => {
    process.stderr.write(`fabric join: ${message}\n`)
    process.exit(code)
  })
  return true
}
