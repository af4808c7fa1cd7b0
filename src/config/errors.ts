/**
 * A configuration error a user can fix: names where (file and line, or flag),
 * which section and key, the value given and what was expected.
 */
import { SHOWN_CHARS, clip, quoted, shownName, shownText } from '../util/text.js'

/** Characters of `expected` shown (it may quote outside input through a value parser). */
const EXPECTED_CHARS = 500
/** Errors listed in a ConfigErrors message; the rest are counted. */
export const LISTED_ERRORS = 20

/** `[section]`; a long or non-printable name escaped and cut. */
function shownSection(name: string): string {
  const c = clip(name, SHOWN_CHARS)
  return c.cut ? `[${c.text}…] (${c.bytes} bytes)` : `[${c.text}]`
}

export class ConfigError extends Error {
  readonly where: string
  readonly section?: string
  readonly key?: string
  readonly value?: string
  readonly expected: string

  constructor(opts: { where: string; section?: string; key?: string; value?: string; expected: string }) {
    // values from the file are shown escaped and cut (a binary or 20 MB line
    // gives one readable line); the fields keep them whole
    const parts = [opts.where]
    if (opts.section !== undefined) parts.push(shownSection(opts.section))
    if (opts.key !== undefined) parts.push(opts.value !== undefined ? `${shownName(opts.key)} = ${quoted(opts.value)}` : shownName(opts.key))
    super(`${parts.join(' ')}: ${shownText(opts.expected, EXPECTED_CHARS)}`)
    this.name = 'ConfigError'
    this.where = opts.where
    this.section = opts.section
    this.key = opts.key
    this.value = opts.value
    this.expected = opts.expected
  }
}

/** Several config errors reported at once, so the operator fixes them in one pass. */
export class ConfigErrors extends Error {
  readonly errors: ConfigError[]
  constructor(errors: ConfigError[]) {
    const listed = errors.slice(0, LISTED_ERRORS).map((e) => e.message)
    if (errors.length > LISTED_ERRORS) listed.push(`(and ${errors.length - LISTED_ERRORS} more errors)`)
    super(listed.join('\n'))
    this.name = 'ConfigErrors'
    this.errors = errors
  }
}
