/** Text reports of a lab: every host's fabric routes and the container reachability matrix. */
import { AgentUnreachable, getJson } from '../api/client.js'
import type { RouteRow } from '../api/types.js'
import { renderRouteTable } from '../api/render.js'
import { fileURLToPath } from 'node:url'
import { type LabSpec, reachability, renderMatrix } from './lab.js'
import { run } from './sh.js'

const fabricBin = fileURLToPath(new URL('../../bin/fabric.js', import.meta.url))

export async function hostRoutes(socket: string): Promise<RouteRow[] | string> {
  try {
    return (await getJson<{ routes: RouteRow[] }>(socket, '/v1/routes')).routes
  } catch (e) {
    return e instanceof AgentUnreachable ? 'agent not running' : (e as Error).message
  }
}

/**
 * What an operator on the first host would run: `fabric peers` and
 * `fabric doctor`, inside that host's namespace, as text.
 */
export async function operatorView(spec: LabSpec): Promise<string> {
  const h = spec.hosts[0]!
  const cli = (args: string[]) => run('ip', ['netns', 'exec', h.ns, process.execPath, fabricBin, ...args], { timeoutMs: 60_000 })
  const peers = await cli(['peers', '--socket', h.socket])
  const doctor = await cli(['doctor', '--config', spec.config, '--socket', h.socket, '--state-dir', h.dir, '--timeout', '1'])
  return [
    `== ${h.name}: fabric peers`, (peers.stdout || peers.stderr).trimEnd().replace(/^/gm, '  '),
    '', `== ${h.name}: fabric doctor`, (doctor.stdout || doctor.stderr).trimEnd().replace(/^/gm, '  '),
  ].join('\n')
}

/** Waits until every host has an installed route to every other host's subnet (or the timeout). */
export async function waitConverged(spec: LabSpec, timeoutMs = 30_000): Promise<boolean> {
  const end = Date.now() + timeoutMs
  for (;;) {
    let done = true
    for (const h of spec.hosts) {
      const rows = await hostRoutes(h.socket)
      const installed = typeof rows === 'string' ? new Set<string>() : new Set(rows.filter((r) => r.state === 'installed').map((r) => r.prefix))
      if (spec.hosts.some((o) => o !== h && !installed.has(o.subnet))) {
        done = false
        break
      }
    }
    if (done) return true
    if (Date.now() > end) return false
    await new Promise((r) => setTimeout(r, 250))
  }
}

export async function labReport(spec: LabSpec): Promise<{ text: string; allReachable: boolean }> {
  const parts: string[] = [`lab ${spec.name}: ${spec.hosts.length} hosts, mode ${spec.mode}, underlay ${spec.underlay}, pool ${spec.pool}`]
  for (const h of spec.hosts) {
    const routes = await hostRoutes(h.socket)
    parts.push('', `== ${h.name} (${h.address}, subnet ${h.subnet}, namespace ${h.ns}) — fabric routes`)
    parts.push(typeof routes === 'string' ? `  (${routes})` : routes.length ? renderRouteTable(routes).replace(/^/gm, '  ') : '  (none)')
  }
  const results = await reachability(spec)
  const ok = results.filter((r) => r.ok).length
  parts.push('', `== container reachability (ping from each host's container to every other): ${ok}/${results.length} ok`)
  parts.push(renderMatrix(spec, results).replace(/^/gm, '  '))
  return { text: parts.join('\n'), allReachable: ok === results.length }
}
