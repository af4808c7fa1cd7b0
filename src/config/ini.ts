/**
 * A strict wrapper over conf-cfg-ini. conf-cfg-ini alone accepts anything
 * (a bare word becomes `key = true`, duplicate sections merge, values keep
 * inline comments, line numbers are lost); fabric.ini must be refused loudly
 * instead. The file is parsed once: each line, its inline comment stripped,
 * is decoded by conf-cfg-ini, and the wrapper checks what it made of it
 * (a section header or `key = value`, nothing else), keeping the line number.
 */
import type ConfCfgIniClass from 'conf-cfg-ini'
import { requireCjs } from '../util/cjs.js'
import { ConfigError } from './errors.js'

// the CommonJS package through require, not an ESM import (util/cjs.ts)
const ConfCfgIni = requireCjs('conf-cfg-ini') as typeof ConfCfgIniClass
type ConfCfgIni = ConfCfgIniClass

export interface IniEntry {
  value: string
  line: number
}

export interface IniSection {
  name: string
  line: number
  entries: Map<string, IniEntry>
}

export interface IniDocument {
  file: string
  sections: IniSection[]
}

/** `key`, or `key.NAME` (a per-network key such as `subnet.backend`) */
const KEY = /^[a-z][a-z0-9-]*(\.[A-Za-z0-9][A-Za-z0-9_.-]*)?$/
const SECTION_NAME = /^[a-z][a-z0-9]*(\.[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/

/** conf-cfg-ini's value for a line without `=` (its default is `true`) */
const NO_VALUE = Symbol('no value')

/** Removes a `;` or `#` comment that starts a line or follows whitespace. */
function stripComment(line: string): string {
  const m = /(^|\s)[;#]/.exec(line)
  return (m ? line.slice(0, m.index) : line).trim()
}

type Decoded = { kind: 'section'; name: string } | { kind: 'entry'; key: string; value: string } | { kind: 'other' }

/** What conf-cfg-ini makes of one (non-empty, comment-free) line. */
function decodeLine(decoder: ConfCfgIni, line: string): Decoded {
  const d = decoder.decode(line)
  const keys = Object.keys(d)
  // nothing (e.g. `__proto__ = x`, which it cannot store) or more than one thing is not a line we accept
  if (keys.length !== 1) return { kind: 'other' }
  const key = keys[0]!
  const v = d[key]
  if (typeof v === 'string') return { kind: 'entry', key: key.trim(), value: v.trim() }
  if (v !== null && typeof v === 'object' && line.startsWith('[')) return { kind: 'section', name: key.trim() }
  return { kind: 'other' } // a bare word (NO_VALUE)
}

/**
 * Parses fabric.ini text into its sections and entries (with line numbers)
 * and every line that is not a section header, a comment or `key = value`.
 */
export function parseIni(text: string, file: string): { doc: IniDocument; errors: ConfigError[] } {
  const decoder = new ConfCfgIni({ lineEnding: '\n', commentIdentifiers: [';', '#'], trimLines: true, defaultValue: NO_VALUE })
  const errors: ConfigError[] = []
  const lines = text.split(/\r\n|\n|\r/)
  const sections: IniSection[] = []
  const seen = new Map<string, number>()
  let current: IniSection | undefined
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1
    const where = `${file}:${lineNo}`
    const line = stripComment(lines[i]!)
    if (line === '') continue
    const d = decodeLine(decoder, line)
    if (d.kind === 'section') {
      const name = d.name
      if (!SECTION_NAME.test(name)) {
        errors.push(new ConfigError({ where, section: name, expected: 'a section name like [fabric] or [host.NAME] (letters, digits, _ . -)' }))
        current = undefined
        continue
      }
      const prev = seen.get(name)
      if (prev !== undefined) {
        errors.push(new ConfigError({ where, section: name, expected: `duplicate section (first defined at line ${prev}); names must be unique` }))
        current = undefined
        continue
      }
      seen.set(name, lineNo)
      current = { name, line: lineNo, entries: new Map() }
      sections.push(current)
      continue
    }
    if (d.kind === 'other' || d.key === '') {
      errors.push(new ConfigError({ where, section: current?.name, value: undefined, key: line, expected: 'a line of the form `key = value`, a [section] header or a ; comment' }))
      continue
    }
    const { key, value } = d
    if (!KEY.test(key)) {
      errors.push(new ConfigError({ where, section: current?.name, key, value, expected: 'a key of lowercase letters, digits and dashes (or key.NETWORK)' }))
      continue
    }
    if (current === undefined) {
      errors.push(new ConfigError({ where, key, value, expected: 'keys must follow a [section] header' }))
      continue
    }
    const dup = current.entries.get(key)
    if (dup !== undefined) {
      errors.push(new ConfigError({ where, section: current.name, key, value, expected: `key set twice (first at line ${dup.line})` }))
      continue
    }
    if (value === '') {
      errors.push(new ConfigError({ where, section: current.name, key, value, expected: 'a value after `=`' }))
      continue
    }
    current.entries.set(key, { value, line: lineNo })
  }
  return { doc: { file, sections }, errors }
}
