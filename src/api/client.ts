/** Client of the agent's control API (HTTP over a Unix socket): the CLI, doctor and the lab use it. */
import { request } from 'node:http'
import { type UnixHttpResponse, UnixHttpTimeout, unixHttp } from '../util/unix-http.js'
import { API, type LeaveRequest, type LeaveResponse, type PeersResponse, type RoutesResponse, type StatusResponse } from './types.js'

export class AgentUnreachable extends Error {
  constructor(readonly socket: string, readonly reason: string) {
    super(reason === 'EACCES'
      ? `permission denied on ${socket}: the control socket is root-only (mode 0600); run this as root`
      : `the fabric agent is not running or not reachable at ${socket} (${reason})`)
    this.name = 'AgentUnreachable'
  }
}

export function getJson<T>(socket: string, path: string, timeoutMs = 5000): Promise<T> {
  return requestJson<T>(socket, 'GET', path, timeoutMs)
}

/** POSTs a JSON body (`{}` unless given). */
export function postJson<T>(socket: string, path: string, body: unknown = {}, timeoutMs = 30_000): Promise<T> {
  return requestJson<T>(socket, 'POST', path, timeoutMs, Buffer.from(JSON.stringify(body)))
}

export const getStatus = (socket: string, timeoutMs?: number): Promise<StatusResponse> => getJson<StatusResponse>(socket, API.status, timeoutMs)
export const getRoutes = (socket: string, timeoutMs?: number): Promise<RoutesResponse> => getJson<RoutesResponse>(socket, API.routes, timeoutMs)
export const getPeers = (socket: string, timeoutMs?: number): Promise<PeersResponse> => getJson<PeersResponse>(socket, API.peers, timeoutMs)
export const requestLeave = (socket: string, body: LeaveRequest = {}): Promise<LeaveResponse> => postJson<LeaveResponse>(socket, API.leave, body)

async function requestJson<T>(socket: string, method: 'GET' | 'POST', path: string, timeoutMs: number, body?: Buffer): Promise<T> {
  let res: UnixHttpResponse
  try {
    const headers = body ? { 'content-type': 'application/json', 'content-length': body.length } : undefined
    res = await unixHttp(socket, method, path, { timeoutMs, body, headers })
  } catch (e) {
    throw new AgentUnreachable(socket, e instanceof UnixHttpTimeout ? 'timeout' : (e as NodeJS.ErrnoException).code ?? (e as Error).message)
  }
  let answer: unknown
  try {
    answer = JSON.parse(res.text)
  } catch {
    throw new Error(`agent answered ${res.status} with non-JSON: ${res.text.slice(0, 200)}`)
  }
  if ((res.status || 500) >= 400) throw new Error(`agent: ${(answer as { error?: string }).error ?? res.status}`)
  return answer as T
}

/** Follows an NDJSON stream (/v1/events); resolves when it ends. */
export function streamJson(socket: string, path: string, onItem: (item: Record<string, unknown>) => void, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, method: 'GET', signal }, (res) => {
      if ((res.statusCode ?? 500) >= 400) return reject(new Error(`agent answered ${res.statusCode} on ${path}`))
      let buf = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buf += chunk
        let nl: number
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl)
          buf = buf.slice(nl + 1)
          if (!line.trim()) continue
          try {
            onItem(JSON.parse(line) as Record<string, unknown>)
          } catch {
            /* a partial or bad line: skip */
          }
        }
      })
      res.on('end', () => resolve())
      res.on('error', (e) => reject(e))
    })
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e.name === 'AbortError') resolve()
      else reject(new AgentUnreachable(socket, e.code ?? e.message))
    })
    req.end()
  })
}
