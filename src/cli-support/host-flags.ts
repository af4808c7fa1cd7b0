/** The oclif flags of `fabric join` for the host integration, built from host/'s plain description. */
import { Flags, type Interfaces } from '@oclif/core'
import { HOST_HELP_GROUP, HOST_OPTIONS, type HostOptionName, type HostOptionSpec } from '../host/flags.js'

export { hostOptions } from '../host/flags.js'

type HostFlags = {
  [K in HostOptionName]: (typeof HOST_OPTIONS)[K] extends { type: 'boolean' } ? Interfaces.BooleanFlag<boolean> : Interfaces.OptionFlag<string | undefined>
}

function flagOf(s: HostOptionSpec): Interfaces.BooleanFlag<boolean> | Interfaces.OptionFlag<string | undefined> {
  const common = { description: s.description, env: s.env, helpGroup: HOST_HELP_GROUP }
  if (s.type === 'boolean') return Flags.boolean<boolean>({ ...common, default: s.default, allowNo: s.allowNo })
  return Flags.string({ ...common, default: s.default, options: s.options ? [...s.options] : undefined }) as Interfaces.OptionFlag<string | undefined>
}

export const HOST_FLAGS = Object.fromEntries(Object.entries(HOST_OPTIONS).map(([n, s]) => [n, flagOf(s)])) as HostFlags
