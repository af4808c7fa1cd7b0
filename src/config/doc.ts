/** The [bgp], [peer.NAME] and [rip] key tables of docs/configuration.md, from the schemas. */
import { BGP_KEYS, PEER_KEYS } from './bgp-config.js'
import { RIP_KEYS } from './rip-config.js'
import { type KeySpec, envOf } from './section.js'

function table(section: string, keys: Record<string, KeySpec>): string {
  const rows = Object.entries(keys).map(([key, s]) => `| \`${key}\` | ${s.flag ? `\`--${s.flag}\`` : '-'} | ${s.flag ? `\`${envOf(s.flag)}\`` : '-'} | ${s.default ?? '(required)'} | ${s.description} |`)
  return [`### [${section}]`, '', '| key | flag | env | default | meaning |', '|---|---|---|---|---|', ...rows].join('\n')
}

export function configTables(): string {
  return [table('bgp', BGP_KEYS), table('peer.NAME', PEER_KEYS), table('rip', RIP_KEYS)].join('\n\n')
}
