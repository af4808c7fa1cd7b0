/**
 * A configuration error a user can fix: names where (file and line, or flag),
 * which section and key, the value given and what was expected.
 */
export class ConfigError extends Error {
  readonly where: string
  readonly section?: string
  readonly key?: string
  readonly value?: string
  readonly expected: string

  constructor(opts: { where: string; section?: string; key?: string; value?: string; expected: string }) {
    const parts = [opts.where]
    if (opts.section !== undefined) parts.push(`[${opts.section}]`)
    if (opts.key !== undefined) parts.push(opts.value !== undefined ? `${opts.key} = "${opts.value}"` : opts.key)
    super(`${parts.join(' ')}: ${opts.expected}`)
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
    super(errors.map((e) => e.message).join('\n'))
    this.name = 'ConfigErrors'
    this.errors = errors
  }
}
