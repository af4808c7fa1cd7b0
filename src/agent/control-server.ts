/**
 * The control API's transport: HTTP/JSON over a Unix socket (mode 0600,
 * root only). Versioned paths; the CLI is its client (src/api/client.ts,
 * node:http). One request per connection: every answer carries
 * `connection: close` and the socket is closed after it (a client's
 * keep-alive is declined, which HTTP/1.1 clients handle). Requests are
 * decoded by util/http-lite.ts over node:net, not node:http: the agent
 * does not hold node:http's server for one local socket (docs/benchmarks.md,
 * bench/idle). Every malformed request gets a 4xx/5xx; nothing a client
 * sends, and nothing a handler throws, reaches the process.
 */
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs'
import { type Server, type Socket, connect, createServer } from 'node:net'
import { dirname } from 'node:path'
import type { Writable } from 'node:stream'
import { type ErrorResponse, MAX_REQUEST_BODY } from '../api/types.js'
import { DEFAULT_LIMITS, type HeadLimits, type RequestHead, parseRequestHead, responseHead } from '../util/http-lite.js'

export interface ApiRequest {
  method: 'GET' | 'POST'
  url: URL
  /** the request body as text (POST), at most MAX_REQUEST_BODY octets */
  body: string
  /** header fields, names in lower case */
  headers: ReadonlyMap<string, string>
}

/**
 * A JSON answer (`sent` is called once it has been written out, or the
 * client has gone), or a stream: the status line and headers are written,
 * then `start` gets the connection to write the body to until either side
 * closes it (the body is delimited by the close).
 */
export type Answer =
  | { status: number; body: unknown; sent?: () => void }
  | { status: number; stream: { contentType: string; start(out: Writable): void } }

export type Handler = (r: ApiRequest) => Promise<Answer> | Answer

export const json = (body: unknown, status = 200): Answer => ({ status, body })

/** The limits of one request: http-lite's head and header field limits, the API's body limit. */
export const REQUEST_LIMITS: HeadLimits = { ...DEFAULT_LIMITS, maxBody: MAX_REQUEST_BODY }
/** A connection that has not sent a whole request within this is answered 408 and closed. */
export const REQUEST_TIMEOUT_MS = 10_000

/** True when something accepts connections on the socket path. */
function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path)
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

/** The path and query of a request target in origin form (`/v1/status?x`), or why it is not one. */
export function parseTarget(target: string | undefined): { ok: true; url: URL } | { ok: false; error: string } {
  if (typeof target !== 'string' || !target.startsWith('/') || target.startsWith('//')) {
    return { ok: false, error: `bad request target ${JSON.stringify(String(target).slice(0, 80))}: expected a path such as /v1/status` }
  }
  try {
    return { ok: true, url: new URL(target, 'http://fabric') }
  } catch {
    return { ok: false, error: `bad request target ${JSON.stringify(target.slice(0, 80))}` }
  }
}

export class ControlServer {
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()
  private readonly requestTimeoutMs: number

  /** `routes`: "/path" for GET, "POST /path" for POST */
  constructor(private readonly path: string, private readonly routes: Map<string, Handler>, opts: { requestTimeoutMs?: number } = {}) {
    this.requestTimeoutMs = opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS
  }

  async listen(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o755 })
    if (existsSync(this.path)) {
      if (await socketInUse(this.path)) throw new Error(`control socket ${this.path} is in use: is another fabric agent running? (use --socket to pick another path)`)
      unlinkSync(this.path)
    }
    // half-open allowed: a client that shuts down its side after the request still gets the answer
    const server = createServer({ allowHalfOpen: true }, (socket) => this.connection(socket))
    this.server = server
    const oldMask = process.umask(0o177)
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(this.path, () => {
          server.off('error', reject)
          resolve()
        })
      })
    } finally {
      process.umask(oldMask)
    }
    // an accept error (EMFILE) must not reach the process
    server.on('error', () => undefined)
    chmodSync(this.path, 0o600)
  }

  async close(): Promise<void> {
    const s = this.server
    this.server = undefined
    if (!s) return
    for (const socket of this.sockets) socket.destroy()
    await new Promise<void>((resolve) => s.close(() => resolve()))
    try {
      unlinkSync(this.path)
    } catch {
      /* already gone */
    }
  }

  /** Reads one request (head, then Content-Length octets of body) and answers it. */
  private connection(socket: Socket): void {
    this.sockets.add(socket)
    socket.once('close', () => this.sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    let buf: Buffer | undefined
    let head: RequestHead | undefined
    let bodyAt = 0
    const stopReading = (): void => {
      socket.off('data', onData)
      socket.off('end', onEnd)
      socket.setTimeout(0)
    }
    const onData = (chunk: Buffer): void => {
      try {
        buf = buf === undefined ? chunk : Buffer.concat([buf, chunk])
        if (head === undefined) {
          const r = parseRequestHead(buf, REQUEST_LIMITS)
          if (r.kind === 'incomplete') return
          if (r.kind === 'error') {
            stopReading()
            return this.reply(socket, r.status, { error: r.error })
          }
          head = r.head
          bodyAt = r.length
          // a client that waits for our go-ahead before it sends its body (curl does for larger ones, RFC 9110 10.1.1)
          if (head.contentLength > buf.length - bodyAt && head.headers.get('expect')?.toLowerCase() === '100-continue') socket.write('HTTP/1.1 100 Continue\r\n\r\n')
        }
        if (buf.length - bodyAt < head.contentLength) return
        stopReading()
        const body = buf.subarray(bodyAt, bodyAt + head.contentLength)
        buf = undefined
        this.dispatch(socket, head, body).catch((e: unknown) => this.fail(socket, e))
      } catch (e) {
        this.fail(socket, e)
      }
    }
    // the client shut down its side before a whole request: nothing to answer
    const onEnd = (): void => {
      stopReading()
      socket.destroy()
    }
    socket.on('data', onData)
    socket.on('end', onEnd)
    socket.setTimeout(this.requestTimeoutMs, () => {
      stopReading()
      this.reply(socket, 408, { error: `no complete request within ${this.requestTimeoutMs} ms` })
    })
  }

  private async dispatch(socket: Socket, head: RequestHead, bodyBytes: Buffer): Promise<void> {
    const target = parseTarget(head.target)
    if (!target.ok) return this.reply(socket, 400, { error: target.error })
    const { url } = target
    const method = head.method
    if (method !== 'GET' && method !== 'POST') return this.reply(socket, 405, { error: `method ${method.slice(0, 20)} not allowed: only GET and POST` })
    const handler = this.routes.get(method === 'POST' ? `POST ${url.pathname}` : url.pathname)
    if (!handler) {
      const other = this.routes.has(url.pathname) || this.routes.has(`POST ${url.pathname}`)
      const e: ErrorResponse & { endpoints: string[] } = { error: other ? `method ${method} not allowed on ${url.pathname}` : `no such endpoint ${url.pathname.slice(0, 80)}`, endpoints: [...this.routes.keys()] }
      return this.reply(socket, other ? 405 : 404, e)
    }
    const body = method === 'POST' ? bodyBytes.toString('utf8') : ''
    let answer: Answer
    try {
      answer = await handler({ method, url, body, headers: head.headers })
    } catch (e) {
      return this.fail(socket, e)
    }
    if ('stream' in answer) {
      if (socket.destroyed) return
      // the client closing (or shutting down its side) ends the stream: nothing else would notice an idle one
      socket.once('end', () => socket.destroy())
      socket.write(responseHead(answer.status, [['content-type', answer.stream.contentType], ['cache-control', 'no-store'], ['connection', 'close']]))
      try {
        answer.stream.start(socket)
      } catch {
        socket.destroy()
      }
      return
    }
    this.reply(socket, answer.status, answer.body, answer.sent)
  }

  /** Writes a JSON answer and closes the connection; `sent` runs once it is out (or the client is gone). */
  private reply(socket: Socket, status: number, body: unknown, sent?: () => void): void {
    let done = false
    const once = (): void => {
      if (done || !sent) return
      done = true
      sent()
    }
    if (socket.destroyed || socket.writableEnded) {
      socket.destroy()
      once()
      return
    }
    if (sent) {
      socket.once('finish', once)
      socket.once('close', once)
    }
    const text = JSON.stringify(body, null, 1)
    const headText = responseHead(status, [['content-type', 'application/json'], ['content-length', Buffer.byteLength(text)], ['connection', 'close']])
    socket.end(headText + text)
  }

  private fail(socket: Socket, e: unknown): void {
    try {
      if (socket.bytesWritten > 0 || socket.writableEnded) socket.destroy()
      else this.reply(socket, 500, { error: e instanceof Error ? e.message : String(e) })
    } catch {
      socket.destroy()
    }
  }
}
