/**
 * Registers fabric's route protocol name with iproute2 so `ip route` shows
 * `proto fabric`. Only when the directory is writable and the number is not
 * already named; never rewrites another file.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROUTE_PROTOCOL_NAME } from '../config/route-protocol.js'

export const DEFAULT_RT_PROTOS_DIR = '/etc/iproute2/rt_protos.d'

export type RegisterResult = 'registered' | 'already' | 'taken' | 'not-writable'

export function registerRouteProtocol(protocol: number, dir = DEFAULT_RT_PROTOS_DIR): { result: RegisterResult; detail?: string } {
  const file = join(dir, `${ROUTE_PROTOCOL_NAME}.conf`)
  const line = `${protocol}\t${ROUTE_PROTOCOL_NAME}\n`
  try {
    if (existsSync(file) && readFileSync(file, 'utf8') === line) return { result: 'already' }
    if (existsSync(dir)) {
      for (const f of readdirSync(dir)) {
        if (f === `${ROUTE_PROTOCOL_NAME}.conf` || !f.endsWith('.conf')) continue
        const text = readFileSync(join(dir, f), 'utf8')
        for (const l of text.split('\n')) {
          const m = /^\s*(\d+)\s+(\S+)/.exec(l)
          if (m && Number(m[1]) === protocol && m[2] !== ROUTE_PROTOCOL_NAME) return { result: 'taken', detail: `${join(dir, f)} names ${protocol} "${m[2]}"` }
        }
      }
    }
    mkdirSync(dir, { recursive: true })
    writeFileSync(file, line)
    return { result: 'registered' }
  } catch (e) {
    return { result: 'not-writable', detail: (e as Error).message }
  }
}
