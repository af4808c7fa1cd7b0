/** Flags shared by several commands, each with its FABRIC_* environment variable. */
import { Flags } from '@oclif/core'
import { LEVELS } from '../core/log.js'

export const DEFAULT_STATE_DIR = '/var/lib/fabric'
export const DEFAULT_SOCKET = '/run/fabric/fabric.sock'
export const DEFAULT_CONFIG = '/etc/fabric/fabric.ini'

export const configFlag = Flags.string({ char: 'c', description: `fabric.ini path [default: ${DEFAULT_CONFIG} when it exists]`, env: 'FABRIC_CONFIG' })
export const socketFlag = Flags.string({ description: 'control socket path', env: 'FABRIC_SOCKET', default: DEFAULT_SOCKET })
export const stateDirFlag = Flags.string({ description: 'state directory', env: 'FABRIC_STATE_DIR', default: DEFAULT_STATE_DIR })
export const logLevelFlag = Flags.string({ description: 'log level', env: 'FABRIC_LOG_LEVEL', options: [...LEVELS], default: 'info' })
export const jsonFlag = Flags.boolean({ description: 'print JSON instead of a table' })
export const routeProtocolFlag = Flags.string({ description: 'protocol to read from the kernel when the agent is down [default: from fabric.ini, else the last state.json, else fabric]', env: 'FABRIC_ROUTE_PROTOCOL' })

/** Flags of the commands that talk to the agent and fall back to the kernel when it is down (routes, status, leave). */
export const agentOrKernelFlags = {
  socket: socketFlag,
  config: configFlag,
  'state-dir': stateDirFlag,
  'route-protocol': routeProtocolFlag,
}
