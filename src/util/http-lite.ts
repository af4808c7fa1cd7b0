/**
 * A small, strict HTTP/1.1 request decoder for the control socket
 * (RFC 9112): the request line, header fields and Content-Length of one
 * request, nothing else. It works on bytes and never sees a socket
 * (agent/control-server.ts feeds it). Everything it does not support gets
 * the status RFC 9110/9112 name for it instead of a guess: no chunked or
 * other transfer codings (501), no HTTP/2 or HTTP/0.9 (505 / 400), no
 * obs-fold (400), no bare LF (400), no more than the limits (431, 413). It
 * never throws: every input maps to `incomplete`, `ok` or `error`.
 *
 * Why not node:http: an agent that holds node:http's server (its parser
 * binding, IncomingMessage/ServerResponse and the client half that comes
 * with the module) for one local socket pays for it in RSS all day
 * (docs/benchmarks.md, bench/idle).
 */

export interface RequestHead {
  method: string
  /** the request target as sent (not yet checked for origin form) */
  target: string
  version: '1.0' | '1.1'
  /** field names in lower case; repeated fields joined with ", " */
  headers: Map<string, string>
  /** octets of body that follow the head (0 without Content-Length) */
  contentLength: number
}

export type HeadResult =
  | { kind: 'incomplete' }
  | { kind: 'ok'; head: RequestHead; /** octets of the head, including the empty line */ length: number }
  | { kind: 'error'; status: number; error: string }

export interface HeadLimits {
  /** octets of request line + header fields */
  maxHead: number
  maxHeaders: number
  maxBody: number
}

export const DEFAULT_LIMITS: HeadLimits = { maxHead: 8192, maxHeaders: 64, maxBody: 1 << 20 }

export const REASONS: Readonly<Record<number, string>> = {
  200: 'OK', 400: 'Bad Request', 404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout', 409: 'Conflict',
  413: 'Content Too Large', 431: 'Request Header Fields Too Large', 500: 'Internal Server Error', 501: 'Not Implemented',
  503: 'Service Unavailable', 505: 'HTTP Version Not Supported',
}

const CR = 13
const LF = 10

/** tchar of RFC 9110 5.6.2 */
const TCHAR = new Uint8Array(128)
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1

const isToken = (s: string): boolean => {
  if (s.length === 0) return false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 128 || TCHAR[c] === 0) return false
  }
  return true
}

/** field-value characters: VCHAR, obs-text, SP, HTAB (no CTLs, no DEL) */
const isFieldValue = (s: string): boolean => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if ((c < 0x20 && c !== 9) || c === 0x7f) return false
  }
  return true
}

/** the request target: visible ASCII only (RFC 9112 3.2; no spaces, no CTLs, no octets >= 0x80) */
const isTarget = (s: string): boolean => {
  if (s.length === 0) return false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c <= 0x20 || c >= 0x7f) return false
  }
  return true
}

/** `s` from `from` without optional whitespace (SP, HTAB) at either end; linear, no regular expression */
function trimOws(s: string, from: number): string {
  let a = from
  let b = s.length
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--
  return s.slice(a, b)
}

const fail = (status: number, error: string): HeadResult => ({ kind: 'error', status, error })
const quote = (s: string): string => JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}...` : s)

/**
 * Decodes the head of one request from the start of `buf` (what has arrived
 * so far): `incomplete` until the empty line that ends it has arrived.
 */
export function parseRequestHead(buf: Uint8Array, limits: HeadLimits = DEFAULT_LIMITS): HeadResult {
  // RFC 9112 2.2: empty lines before the request line are ignored
  let start = 0
  while (start + 1 < buf.length && buf[start] === CR && buf[start + 1] === LF) start += 2
  // find CRLF CRLF; a LF without its CR is refused (RFC 9112 2.2 lets a server reject bare LF)
  // (the empty lines count towards the limit: a client sending nothing but CRLFs is bounded too)
  const scan = Math.min(buf.length, limits.maxHead + 4)
  let end = -1
  for (let i = start; i < scan; i++) {
    if (buf[i] !== LF) continue
    if (i === start || buf[i - 1] !== CR) return fail(400, 'bad request: a line ends in LF without CR')
    if (i >= start + 3 && buf[i - 2] === LF && buf[i - 3] === CR) {
      end = i + 1
      break
    }
  }
  if (end < 0) {
    return buf.length > limits.maxHead
      ? fail(431, `request head longer than ${limits.maxHead} octets`)
      : { kind: 'incomplete' }
  }
  const text = Buffer.from(buf.buffer, buf.byteOffset + start, end - start - 4).toString('latin1')
  const lines = text.split('\r\n')
  const requestLine = lines[0]!
  const parts = requestLine.split(' ')
  if (parts.length !== 3) return fail(400, `bad request line ${quote(requestLine)}: expected METHOD TARGET HTTP/1.1`)
  const [method, target, version] = parts as [string, string, string]
  if (!isToken(method)) return fail(400, `bad method ${quote(method)}`)
  if (!isTarget(target)) return fail(400, `bad request target ${quote(target)}`)
  const v = /^HTTP\/(\d)\.(\d)$/.exec(version)
  if (!v) return fail(400, `bad protocol version ${quote(version)}: expected HTTP/1.1`)
  if (v[1] !== '1') return fail(505, `HTTP/${v[1]}.${v[2]} is not supported: use HTTP/1.1`)
  const headers = new Map<string, string>()
  if (lines.length - 1 > limits.maxHeaders) return fail(431, `more than ${limits.maxHeaders} header fields`)
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!
    if (line.startsWith(' ') || line.startsWith('\t')) return fail(400, 'bad header: line folding (obs-fold) is not accepted')
    const colon = line.indexOf(':')
    if (colon <= 0) return fail(400, `bad header line ${quote(line)}: expected NAME: VALUE`)
    const name = line.slice(0, colon)
    // no whitespace between name and colon (RFC 9112 5.1: MUST reject)
    if (!isToken(name)) return fail(400, `bad header name ${quote(name)}`)
    const value = trimOws(line, colon + 1)
    if (!isFieldValue(value)) return fail(400, `bad value of header ${quote(name)}: control characters`)
    const key = name.toLowerCase()
    const had = headers.get(key)
    if (had === undefined) headers.set(key, value)
    else if (key === 'host') return fail(400, 'more than one host header')
    else if (key === 'content-length' && had !== value) return fail(400, `conflicting content-length headers ${quote(had)} and ${quote(value)}`)
    else if (key !== 'content-length') headers.set(key, `${had}, ${value}`)
  }
  const httpVersion = v[2] === '1' ? '1.1' : v[2] === '0' ? '1.0' : undefined
  if (httpVersion === undefined) return fail(505, `HTTP/1.${v[2]} is not supported: use HTTP/1.1`)
  if (httpVersion === '1.1' && !headers.has('host')) return fail(400, 'an HTTP/1.1 request without a host header')
  if (headers.has('transfer-encoding')) return fail(501, `transfer-encoding ${quote(headers.get('transfer-encoding')!)} is not supported: send content-length`)
  let contentLength = 0
  const cl = headers.get('content-length')
  if (cl !== undefined) {
    if (!/^\d{1,15}$/.test(cl)) return fail(400, `bad content-length ${quote(cl)}`)
    contentLength = Number(cl)
    if (contentLength > limits.maxBody) return fail(413, `request body larger than ${limits.maxBody} octets`)
  }
  return { kind: 'ok', head: { method, target, version: httpVersion, headers, contentLength }, length: end }
}

/** The status line and header fields of a response, up to and including the empty line. */
export function responseHead(status: number, fields: readonly (readonly [string, string | number])[]): string {
  let s = `HTTP/1.1 ${status} ${REASONS[status] ?? 'Unknown'}\r\n`
  for (const [k, v] of fields) s += `${k}: ${v}\r\n`
  return `${s}\r\n`
}
