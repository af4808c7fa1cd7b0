/** `fabric join` flags of the host integration (docker0, firewall); passed to the hooks as `options`. */
import { Flags } from '@oclif/core'

export const HOST_FLAGS = {}

export function hostOptions(flags: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const name of Object.keys(HOST_FLAGS)) if (flags[name] !== undefined) out[name] = flags[name]
  return out
}

export { Flags }
