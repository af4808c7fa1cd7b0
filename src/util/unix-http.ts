/**
 * One HTTP request over a Unix socket, body collected as text (the control
 * API and Docker's Engine API both use it). node:http is loaded on the first
 * request: an agent that never asks Docker anything does not hold it.
 */

export class UnixHttpTimeout extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${ms} ms`)
    this.name = 'UnixHttpTimeout'
  }
}

export interface UnixHttpResponse {
  status: number
  text: string
}

/** Rejects with the transport's error (ENOENT, ECONNREFUSED, EACCES, ...) or a UnixHttpTimeout. */
export async function unixHttp(socket: string, method: string, path: string, opts: { body?: Buffer; headers?: Record<string, string | number>; timeoutMs: number }): Promise<UnixHttpResponse> {
  const { request } = await import('node:http')
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method, path, timeout: opts.timeoutMs, headers: opts.headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new UnixHttpTimeout(opts.timeoutMs)))
    req.on('error', reject)
    req.end(opts.body)
  })
}
