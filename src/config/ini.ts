/**
 * A strict wrapper over conf-cfg-ini. conf-cfg-ini alone accepts anything
 * (a bare word becomes `key = true`, duplicate sections merge, values keep
 * inline comments); fabric.ini must be refused loudly instead. The wrapper
 * checks every line first, keeps line numbers for error messages, strips
 * inline comments, then lets conf-cfg-ini decode the cleaned text.
 */
import ConfCfgIni from 'conf-cfg-ini'
import { ConfigError } from './errors.js'

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

const SECTION = /^\[([^\]]*)\]$/
const KEY = /^[a-z][a-z0-9-]*$/
const SECTION_NAME = /^[a-z][a-z0-9]*(\.[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/

/** Removes a `;` or `#` comment that starts a line or follows whitespace. */
function stripComment(line: string): string {
  const m = /(^|\s)[;#]/.exec(line)
  return (m ? line.slice(0, m.index) : line).trim()
}

/**
 * Parses fabric.ini text. Returns the document or throws ConfigError listing
 * every line that is not a section header, a comment or `key = value`.
 */
export function parseIni(text: string, file: string): { doc: IniDocument; errors: ConfigError[] } {
  const errors: ConfigError[] = []
  const lines = text.split(/\r\n|\n|\r/)
  const sections: IniSection[] = []
  const seen = new Map<string, number>()
  const clean: string[] = []
  let current: IniSection | undefined
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1
    const where = `${file}:${lineNo}`
    const line = stripComment(lines[i]!)
    if (line === '') continue
    const sec = SECTION.exec(line)
    if (sec) {
      const name = sec[1]!.trim()
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
      clean.push(`[${name}]`)
      continue
    }
    const eq = line.indexOf('=')
    if (eq <= 0) {
      errors.push(new ConfigError({ where, section: current?.name, value: undefined, key: line, expected: 'a line of the form `key = value`, a [section] header or a ; comment' }))
      continue
    }
    const key = line.slice(0, eq).trim()
    const value = line.slice(eq + 1).trim()
    if (!KEY.test(key)) {
      errors.push(new ConfigError({ where, section: current?.name, key, value, expected: 'a key of lowercase letters, digits and dashes' }))
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
    clean.push(`${key}=${value}`)
  }
  // conf-cfg-ini decodes the cleaned text; the result must agree with what we
  // checked line by line (it is the parser of record for values).
  const decoder = new ConfCfgIni({ lineEnding: '\n', commentIdentifiers: [';', '#'], trimLines: true })
  const decoded = decoder.decode(clean.join('\n')) as Record<string, Record<string, string>>
  for (const section of sections) {
    const values = decoded[section.name] ?? {}
    for (const [key, entry] of section.entries) {
      const v = values[key]
      if (typeof v === 'string') entry.value = v.trim()
    }
  }
  return { doc: { file, sections }, errors }
}
