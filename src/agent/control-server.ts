/**
 * The control API's transport: HTTP/JSON over a Unix socket (mode 0600,
 * root only). Versioned paths; the CLI is its client (src/api/client.ts).
 * Every malformed request gets a 4xx; nothing a client sends, and nothing a
 * handler throws, reaches the process.
 */
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs'
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http'
import { connect } from 'node:net'
import { dirname } from 'node:path'
import { type ErrorResponse, MAX_REQUEST_BODY } from '../api/types.js'

export interface ApiRequest {
  method: 'GET' | 'POST'
  url: URL
  /** the request body as text (POST), at most MAX_REQUEST_BODY octets */
  body: string
  req: IncomingMessage
  res: ServerResponse
}

/** A JSON answer, or `streaming` when the handler writes the response itself. */
export type Answer = { status: number; body: unknown } | { streaming: true }

export type Handler = (r: ApiRequest) => Promise<Answer> | Answer

export const json = (body: unknown, status = 200): Answer => ({ status, body })

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

/** Reads a request body up to `max` octets; undefined when it is longer. */
function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    let done = false
    const finish = (v: string | undefined): void => {
      if (done) return
      done = true
      resolve(v)
    }
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > max) {
        finish(undefined)
        req.pause()
        return
      }
      chunks.push(c)
    })
    req.on('end', () => finish(Buffer.concat(chunks).toString('utf8')))
    req.on('error', () => finish(undefined))
    req.on('close', () => finish(size > max ? undefined : Buffer.concat(chunks).toString('utf8')))
  })
}

export class ControlServer {
  private server: Server | undefined

  /** `routes`: "/path" for GET, "POST /path" for POST */
  constructor(private readonly path: string, private readonly routes: Map<string, Handler>) {}

  async listen(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o755 })
    if (existsSync(this.path)) {
      if (await socketInUse(this.path)) throw new Error(`control socket ${this.path} is in use: is another fabric agent running? (use --socket to pick another path)`)
      unlinkSync(this.path)
    }
    const server = createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => this.fail(res, e))
    })
    // bytes that are not HTTP: answer 400 where possible, never throw
    server.on('clientError', (_e, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
      else socket.destroy()
    })
    this.server = server
    const oldMask = process.umask(0o177)
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(this.path, () => resolve())
      })
    } finally {
      process.umask(oldMask)
    }
    chmodSync(this.path, 0o600)
  }

  async close(): Promise<void> {
    const s = this.server
    this.server = undefined
    if (!s) return
    s.closeAllConnections?.()
    await new Promise<void>((resolve) => s.close(() => resolve()))
    try {
      unlinkSync(this.path)
    } catch {
      /* already gone */
    }
  }

  private error(res: ServerResponse, status: number, e: ErrorResponse): void {
    this.send(res, status, e)
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    if (res.headersSent || res.destroyed) return
    const text = JSON.stringify(body, null, 1)
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
    res.end(text)
  }

  private fail(res: ServerResponse, e: unknown): void {
    try {
      if (res.headersSent) res.destroy()
      else this.error(res, 500, { error: e instanceof Error ? e.message : String(e) })
    } catch {
      res.destroy()
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // no Date header: node formats it with Date#toUTCString, whose first use faults
    // ~0.9 MB of ICU time-zone data into the agent (no client of this API reads it)
    res.sendDate = false
    const target = parseTarget(req.url)
    if (!target.ok) return this.error(res, 400, { error: target.error })
    const { url } = target
    const method = req.method
    if (method !== 'GET' && method !== 'POST') return this.error(res, 405, { error: `method ${String(method).slice(0, 20)} not allowed: only GET and POST` })
    const handler = this.routes.get(method === 'POST' ? `POST ${url.pathname}` : url.pathname)
    if (!handler) {
      const other = this.routes.has(url.pathname) || this.routes.has(`POST ${url.pathname}`)
      return this.error(res, other ? 405 : 404, { error: other ? `method ${method} not allowed on ${url.pathname}` : `no such endpoint ${url.pathname.slice(0, 80)}`, endpoints: [...this.routes.keys()] })
    }
    let body = ''
    if (method === 'POST') {
      const text = await readBody(req, MAX_REQUEST_BODY)
      if (text === undefined) return this.error(res, 413, { error: `request body larger than ${MAX_REQUEST_BODY} octets` })
      body = text
    }
    let answer: Answer
    try {
      answer = await handler({ method, url, body, req, res })
    } catch (e) {
      return this.fail(res, e)
    }
    if ('streaming' in answer) return
    this.send(res, answer.status, answer.body)
  }
}
