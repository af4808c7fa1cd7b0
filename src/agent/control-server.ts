/**
 * The control API: HTTP/JSON over a Unix socket (mode 0600, root only).
 * Versioned paths; the CLI is its client.
 */
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs'
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http'
import { connect } from 'node:net'
import { dirname } from 'node:path'

export type Handler = (req: IncomingMessage, url: URL, res: ServerResponse) => Promise<unknown> | unknown

/** Endpoints that change something are POST-only; keys of the map are "POST /path". */

export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message)
  }
}

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

export class ControlServer {
  private server: Server | undefined

  constructor(private readonly path: string, private readonly routes: Map<string, Handler>) {}

  async listen(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o755 })
    if (existsSync(this.path)) {
      if (await socketInUse(this.path)) throw new Error(`control socket ${this.path} is in use: is another fabric agent running? (use --socket to pick another path)`)
      unlinkSync(this.path)
    }
    const server = createServer((req, res) => void this.handle(req, res))
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

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fabric')
    const handler = this.routes.get(req.method === 'POST' ? `POST ${url.pathname}` : url.pathname)
    const send = (status: number, body: unknown): void => {
      const text = JSON.stringify(body, null, 1)
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
      res.end(text)
    }
    if (!handler) {
      const other = this.routes.has(url.pathname) || this.routes.has(`POST ${url.pathname}`)
      return send(other ? 405 : 404, { error: other ? `method ${req.method} not allowed on ${url.pathname}` : `no such endpoint ${url.pathname}`, endpoints: [...this.routes.keys()] })
    }
    if (req.method !== 'GET' && req.method !== 'POST') return send(405, { error: 'only GET and POST are supported' })
    try {
      const body = await handler(req, url, res)
      if (body === undefined) return // handler streams itself
      send(200, body)
    } catch (e) {
      if (e instanceof HttpError) send(e.status, { error: e.message })
      else send(500, { error: (e as Error).message })
    }
  }
}
