/**
 * The idle lab of bench/idle.ts and bench/rss.ts: agents started with the
 * product defaults and left alone once every BGP session is up.
 */
import { writeFileSync } from 'node:fs'
import { getJson } from '../src/api/client.js'
import { type LabHost, type LabSpec, renderLabIni, startAgent, waitAgents } from '../src/lab/lab.js'
import { waitFor } from '../src/lab/sh.js'

/** Sessions of this host's agent that are Established (0 when it does not answer). */
export async function established(h: LabHost): Promise<number> {
  try {
    const s = await getJson(h.socket, '/v1/peers', 1000) as { peers?: { state?: string }[] } | { state?: string }[]
    const list = Array.isArray(s) ? s : s.peers ?? []
    return list.filter((p) => p.state === 'Established' || p.state === 'up').length
  } catch {
    return 0
  }
}

/**
 * Starts every host's agent of a full-mesh BGP lab with the product defaults
 * (the lab's short test timers left out; `agentOf` gives a host's extra join
 * arguments and environment) and waits up to 60 s for every session.
 */
export async function startIdleAgents(lab: LabSpec, agentOf: (i: number) => { extraArgs?: string[]; env?: Record<string, string> }): Promise<void> {
  writeFileSync(lab.config, renderLabIni(lab, ['', '[bgp]', 'asn = 64512']).replace(/^reconcile-interval = .*\n/m, ''))
  for (const [i, h] of lab.hosts.entries()) startAgent(lab, h, { logLevel: 'info', ...agentOf(i) })
  await waitAgents(lab)
  const up = await waitFor(async () => {
    for (const h of lab.hosts) if ((await established(h)) < lab.hosts.length - 1) return undefined
    return true
  }, 60_000, 250)
  if (!up) console.warn('warning: not every BGP session came up within 60 s')
}
