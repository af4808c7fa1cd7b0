/**
 * Errors every layer may raise, with the exit code `fabric` ends with. The
 * one EXIT map: 0 ok, 1 runtime failure, 2 usage/config error, 3 the host
 * needs a manual step (e.g. --configure-docker).
 */
export const EXIT = { OK: 0, RUNTIME: 1, USAGE: 2, MANUAL: 3 } as const
export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

/** A start failure with the exit code the CLI should use. */
export class AgentStartError extends Error {
  constructor(message: string, readonly exitCode: Exclude<ExitCode, 0>) {
    super(message)
    this.name = 'AgentStartError'
  }
}
