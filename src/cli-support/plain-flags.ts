/**
 * Flags as plain data (no @oclif/core): the description the oclif flags are
 * built from (cli-support/flags.ts `oclifFlags`), and a parser for the one
 * case `fabric join` needs at start: every argument a known flag with a valid
 * value. The agent is a long-running process; loading oclif only to parse its
 * flags costs it ~8 MB of memory for its whole life (docs/benchmarks.md,
 * bench/idle). Anything this parser does not fully understand (help, an
 * unknown flag, a missing or invalid value, a flag given twice, an argument)
 * makes it return undefined, and the caller hands the command line to oclif,
 * which then prints its usual help or error, or runs the command.
 */
import { LEVELS } from '../core/log.js'

export const DEFAULT_STATE_DIR = '/var/lib/fabric'
export const DEFAULT_SOCKET = '/run/fabric/fabric.sock'
export const DEFAULT_CONFIG = '/etc/fabric/fabric.ini'

export type FlagSpec =
  | { type: 'string'; description: string; env?: string; default?: string; options?: readonly string[]; multiple?: boolean; char?: string; helpGroup?: string }
  | { type: 'boolean'; description: string; env?: string; default?: boolean; allowNo?: boolean; helpGroup?: string }

export type FlagSpecs = Record<string, FlagSpec>

export const CONFIG_SPEC: FlagSpec = { type: 'string', char: 'c', description: `fabric.ini path [default: ${DEFAULT_CONFIG} when it exists]`, env: 'FABRIC_CONFIG' }
export const SOCKET_SPEC: FlagSpec = { type: 'string', description: 'control socket path', env: 'FABRIC_SOCKET', default: DEFAULT_SOCKET }
export const STATE_DIR_SPEC: FlagSpec = { type: 'string', description: 'state directory', env: 'FABRIC_STATE_DIR', default: DEFAULT_STATE_DIR }
export const LOG_LEVEL_SPEC: FlagSpec = { type: 'string', description: 'log level', env: 'FABRIC_LOG_LEVEL', options: LEVELS, default: 'info' }

/** parsed values: a string (a multiple flag set from its env var too), string[] (a multiple flag given on the command line), boolean */
export type FlagValues = Record<string, string | string[] | boolean | undefined>

/** oclif's reading of a boolean env var (`isTruthy`) */
const TRUTHY = new Set(['1', 'true', 'y', 'yes'])

/**
 * The flags of `argv` (the arguments after the command name), then env vars,
 * then defaults, as oclif's parser gives them for a strict command without
 * arguments; undefined when oclif must decide (see the module comment).
 */
export function parseFlagsFast(argv: readonly string[], specs: FlagSpecs, env: NodeJS.ProcessEnv): FlagValues | undefined {
  const byChar = new Map<string, string>()
  for (const [name, s] of Object.entries(specs)) if (s.type === 'string' && s.char) byChar.set(s.char, name)
  const given = new Map<string, string[] | boolean>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    let name: string | undefined
    let inline: string | undefined
    if (arg.startsWith('--') && arg.length > 2) {
      const eq = arg.indexOf('=')
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq)
      inline = eq < 0 ? undefined : arg.slice(eq + 1)
    } else if (arg.length === 2 && arg[0] === '-') {
      name = byChar.get(arg[1]!)
    }
    if (name === undefined || name === 'help') return undefined
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined
    if (spec === undefined) {
      const base = name.startsWith('no-') ? name.slice(3) : undefined
      const negated = base !== undefined && Object.hasOwn(specs, base) ? specs[base] : undefined
      if (negated?.type !== 'boolean' || !negated.allowNo || inline !== undefined) return undefined
      given.set(base!, false)
      continue
    }
    if (spec.type === 'boolean') {
      if (inline !== undefined) return undefined
      given.set(name, true)
      continue
    }
    const value = inline ?? argv[++i]
    if (value === undefined || value === '' || value.startsWith('-')) return undefined
    if (spec.options && !spec.options.includes(value)) return undefined
    const list = given.get(name)
    if (list !== undefined && !spec.multiple) return undefined
    if (Array.isArray(list)) list.push(value)
    else given.set(name, [value])
  }
  const out: FlagValues = {}
  for (const [name, spec] of Object.entries(specs)) {
    const g = given.get(name)
    if (g !== undefined) {
      out[name] = typeof g === 'boolean' || spec.type === 'boolean' ? g : spec.multiple ? g : g[g.length - 1]
      continue
    }
    const e = spec.env ? env[spec.env] : undefined
    if (e) {
      if (spec.type === 'boolean') out[name] = TRUTHY.has(e.toLowerCase())
      else if (spec.options && !spec.options.includes(e)) return undefined
      else out[name] = e
      continue
    }
    if (spec.default !== undefined) out[name] = spec.default
  }
  return out
}
