/** Flags shared by several commands, each with its FABRIC_* environment variable. */
import { Flags, type Interfaces } from '@oclif/core'
import { CONFIG_SPEC, LOG_LEVEL_SPEC, SOCKET_SPEC, STATE_DIR_SPEC, type FlagSpec, type FlagSpecs } from './plain-flags.js'

export { DEFAULT_CONFIG, DEFAULT_SOCKET, DEFAULT_STATE_DIR } from './plain-flags.js'


/** The oclif flag of a plain flag description (cli-support/plain-flags.ts). */
// biome-ignore lint/suspicious/noExplicitAny: oclif's own type of a flag in a command's flag table
export function oclifFlag(s: FlagSpec): Interfaces.Flag<any> {
  if (s.type === 'boolean') return Flags.boolean<boolean>(defined({ description: s.description, env: s.env, helpGroup: s.helpGroup, default: s.default, allowNo: s.allowNo }))
  const common = defined({ description: s.description, env: s.env, helpGroup: s.helpGroup, options: s.options ? [...s.options] : undefined, char: s.char as Interfaces.AlphabetLowercase | undefined })
  if (s.multiple) return Flags.string({ ...common, multiple: true })
  return Flags.string(s.default === undefined ? common : { ...common, default: s.default })
}

/** the object without its undefined fields (oclif's flags as they were written by hand) */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
}

export function oclifFlags(specs: FlagSpecs): Interfaces.FlagInput {
  return Object.fromEntries(Object.entries(specs).map(([n, s]) => [n, oclifFlag(s)]))
}

export const configFlag = oclifFlag(CONFIG_SPEC) as Interfaces.OptionFlag<string | undefined>
export const socketFlag = oclifFlag(SOCKET_SPEC) as Interfaces.OptionFlag<string>
export const stateDirFlag = oclifFlag(STATE_DIR_SPEC) as Interfaces.OptionFlag<string>
export const logLevelFlag = oclifFlag(LOG_LEVEL_SPEC) as Interfaces.OptionFlag<string>
export const jsonFlag = Flags.boolean({ description: 'print JSON instead of a table' })
export const routeProtocolFlag = Flags.string({ description: 'protocol to read from the kernel when the agent is down [default: from fabric.ini, else the last state.json, else fabric]', env: 'FABRIC_ROUTE_PROTOCOL' })

/** Flags of the commands that talk to the agent and fall back to the kernel when it is down (routes, status, leave). */
export const agentOrKernelFlags = {
  socket: socketFlag,
  config: configFlag,
  'state-dir': stateDirFlag,
  'route-protocol': routeProtocolFlag,
}
