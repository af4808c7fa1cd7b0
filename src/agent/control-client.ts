/** Client of the agent's control API (HTTP over a Unix socket). */
import { request } from 'node:http'

export class AgentUnreachable extends Error {
  constructor(readonly socket: string, readonly reason: string) {
    super(`the fabric agent is not running or not reachable at ${socket} (${reason})`)
    this.name = 'AgentUnreachable'
  }
}

export function getJson<T>(socket: string, path: string, timeoutMs = 5000): Promise<T> {
  return requestJson<T>(socket, 'GET', path, timeoutMs)
}

export function postJson<T>(socket: string, path: string, timeoutMs = 30_000): Promise<T> {
  return requestJson<T>(socket, 'POST', path, timeoutMs)
}

function requestJson<T>(socket: string, method: 'GET' | 'POST', path: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, method, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let body: unknown
        try {
          body = JSON.parse(text)
        } catch {
          return reject(new Error(`agent answered ${res.statusCode} with non-JSON: ${text.slice(0, 200)}`))
        }
        if ((res.statusCode ?? 500) >= 400) return reject(new Error(`agent: ${(body as { error?: string }).error ?? res.statusCode}`))
        resolve(body as T)
      })
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', (e: NodeJS.ErrnoException) => reject(new AgentUnreachable(socket, e.code ?? e.message)))
    req.end()
  })
}
