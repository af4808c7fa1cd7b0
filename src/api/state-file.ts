/**
 * state.json in the state directory: what the agent last ran as, for
 * commands run while it is down (doctor, routes/status/leave falling back
 * to the kernel). The agent writes it (src/agent/state-file.ts).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

export const STATE_FILE = 'state.json'

export interface StateFile {
  host: string
  address: string
  subnet: string
  /** dual-stack host: its underlay IPv6 address and IPv6 container subnet */
  address6?: string
  subnet6?: string
  mode: string
  routeProtocol: number
  pid: number
  /** ISO time */
  started: string
}

export function stateFilePath(stateDir: string): string {
  return join(stateDir, STATE_FILE)
}

/** The last state.json of a state dir; undefined when absent or not a state file. Fields of the wrong type are left out. */
export function readState(stateDir: string): Partial<StateFile> | undefined {
  let v: unknown
  try {
    v = JSON.parse(readFileSync(stateFilePath(stateDir), 'utf8'))
  } catch {
    return undefined
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined
  const o = v as Record<string, unknown>
  const out: Partial<StateFile> = {}
  for (const k of ['host', 'address', 'subnet', 'address6', 'subnet6', 'mode', 'started'] as const) if (typeof o[k] === 'string') out[k] = o[k] as string
  for (const k of ['routeProtocol', 'pid'] as const) if (typeof o[k] === 'number') out[k] = o[k] as number
  return out
}
