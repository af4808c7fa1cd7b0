/**
 * Schema-driven reading of one ini section plus its flag overrides: unknown
 * keys refused, every value parsed, errors naming file:line (or the flag),
 * section, key, value and what is expected.
 */
import { ConfigError } from './errors.js'
import type { IniSection } from './ini.js'
import type { Parsed } from './values.js'

export interface KeySpec {
  parse: (text: string) => Parsed<unknown>
  /** the `fabric join` flag that overrides this key (also its FABRIC_* env var) */
  flag?: string
  description: string
  default?: string
}

export type SectionValues = Map<string, { value: unknown; where: string }>

export function envOf(flag: string): string {
  return `FABRIC_${flag.toUpperCase().replace(/-/g, '_')}`
}

export function readSection(opts: {
  file: string
  sectionName: string
  section: IniSection | undefined
  keys: Record<string, KeySpec>
  overrides: Record<string, string | undefined>
  errors: ConfigError[]
}): SectionValues {
  const out: SectionValues = new Map()
  const { file, sectionName, section, keys, overrides, errors } = opts
  if (section) {
    for (const [key, entry] of section.entries) {
      const where = `${file}:${entry.line}`
      const spec = keys[key]
      if (!spec) {
        errors.push(new ConfigError({ where, section: sectionName, key, value: entry.value, expected: `unknown key; [${sectionName.replace(/\..*/, '.NAME')}] accepts ${Object.keys(keys).join(', ')}` }))
        continue
      }
      const r = spec.parse(entry.value)
      if (!r.ok) errors.push(new ConfigError({ where, section: sectionName, key, value: entry.value, expected: r.error }))
      else out.set(key, { value: r.value, where })
    }
  }
  for (const [key, spec] of Object.entries(keys)) {
    if (!spec.flag) continue
    const text = overrides[spec.flag]
    if (text === undefined) continue
    const where = `--${spec.flag} (or ${envOf(spec.flag)})`
    const r = spec.parse(text)
    if (!r.ok) errors.push(new ConfigError({ where, section: sectionName, key, value: text, expected: r.error }))
    else out.set(key, { value: r.value, where })
  }
  return out
}

export function get<T>(values: SectionValues, key: string, dflt: T): T {
  const v = values.get(key)
  return v === undefined ? dflt : (v.value as T)
}
