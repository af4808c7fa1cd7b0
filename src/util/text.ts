/**
 * Showing text that came from outside (a config file, a flag) in a message:
 * control and other non-printable characters escaped, long text cut, so that
 * a binary or 20 MB value gives one readable line, never the value itself.
 */

/** Characters of a value shown in a message before it is cut. */
export const SHOWN_CHARS = 60

const NON_PRINTABLE = /[\p{C}\p{Z}\ufffd]/u

function escapeChar(ch: string, quotes: boolean): string {
  if (quotes && (ch === '"' || ch === '\\')) return `\\${ch}`
  if (ch === ' ' || !NON_PRINTABLE.test(ch)) return ch
  if (ch === '\t') return '\\t'
  if (ch === '\n') return '\\n'
  if (ch === '\r') return '\\r'
  const cp = ch.codePointAt(0)!
  return cp <= 0xff ? `\\x${cp.toString(16).padStart(2, '0')}` : cp <= 0xffff ? `\\u${cp.toString(16).padStart(4, '0')}` : `\\u{${cp.toString(16)}}`
}

export interface Clipped {
  /** the escaped text, at most `max` characters (plus the escape that crosses it) */
  text: string
  /** true when the text was cut */
  cut: boolean
  /** the UTF-8 size of the whole text */
  bytes: number
  /** true when escaping changed something */
  escaped: boolean
}

/** Escapes and cuts `text`; looks at no more of it than it shows. */
export function clip(text: string, max = SHOWN_CHARS, quotes = false): Clipped {
  let out = ''
  let escaped = false
  let i = 0
  while (i < text.length && out.length < max) {
    const cp = text.codePointAt(i)!
    const ch = String.fromCodePoint(cp)
    const e = escapeChar(ch, quotes)
    if (e !== ch) escaped = true
    out += e
    i += ch.length
  }
  const cut = i < text.length
  return { text: out, cut, bytes: cut ? Buffer.byteLength(text) : Buffer.byteLength(text.slice(0, i)), escaped }
}

/** `"value"` escaped; a long one as `"first characters…" (N bytes)`. */
export function quoted(text: string, max = SHOWN_CHARS): string {
  const c = clip(text, max, true)
  return c.cut ? `"${c.text}…" (${c.bytes} bytes)` : `"${c.text}"`
}

/** A name (key, section) as it is when short and printable, else as `quoted`. */
export function shownName(text: string, max = SHOWN_CHARS): string {
  const c = clip(text, max, false)
  return c.cut || c.escaped || text.includes('"') ? quoted(text, max) : text
}

/** Free text that may embed outside input: non-printables escaped, cut at `max` characters. */
export function shownText(text: string, max: number): string {
  const c = clip(text, max, false)
  return c.cut ? `${c.text}… (${c.bytes} bytes)` : c.text
}
