/**
 * One rule in a raw-table chain fabric owns, jumped to first from PREROUTING:
 * how a protocol checks what Node's dgram cannot read of a received packet
 * (its TTL or hop limit: no recvmsg() ancillary data, no IP_RECVTTL /
 * IPV6_RECVHOPLIMIT). BFD (RFC 5881 5: TTL 255) uses it with iptables, RIPng
 * (RFC 2080 2.4.2: hop limit 255) with ip6tables. Only the chain and the one
 * jump to it are ever written. Planning is pure (*-save text in, *-restore
 * input out); applying is one `*-restore --noflush` when something differs.
 */
import { run } from '../util/process.js'

export interface OwnedRawChain {
  readonly chain: string
  /** the rule as iptables-save prints it, without "-A CHAIN" */
  readonly rule: string
}

export type RawTableTool = 'iptables' | 'ip6tables'

function rawTableLines(save: string): string[] {
  const lines: string[] = []
  let inRaw = false
  for (const raw of save.split('\n')) {
    const line = raw.trim()
    if (line.startsWith('*')) inRaw = line === '*raw'
    else if (inRaw) lines.push(line.replace(/^\[\d+:\d+\]\s+/, ''))
  }
  return lines
}

/** restore --noflush input that puts the chain, its rule and the jump in place; '' when already there. */
export function planRawChain(save: string, c: OwnedRawChain): string {
  const lines = rawTableLines(save)
  const jump = lines.includes(`-A PREROUTING -j ${c.chain}`)
  const rules = lines.filter((l) => l.startsWith(`-A ${c.chain} `))
  const want = `-A ${c.chain} ${c.rule}`
  if (jump && rules.length === 1 && rules[0] === want) return ''
  // declaring a user chain in --noflush mode creates or flushes it
  const out = ['*raw', `:${c.chain} - [0:0]`, want]
  if (!jump) out.push(`-I PREROUTING 1 -j ${c.chain}`)
  out.push('COMMIT', '')
  return out.join('\n')
}

/** restore --noflush input that removes the chain and its jump(s); '' when absent. */
export function planRawChainRemoval(save: string, chain: string): string {
  const lines = rawTableLines(save)
  const jumps = lines.filter((l) => l === `-A PREROUTING -j ${chain}`).length
  const exists = lines.some((l) => l.startsWith(`:${chain} `))
  if (!exists && jumps === 0) return ''
  const out = ['*raw']
  for (let i = 0; i < jumps; i++) out.push(`-D PREROUTING -j ${chain}`)
  if (exists) out.push(`:${chain} - [0:0]`, `-X ${chain}`)
  out.push('COMMIT', '')
  return out.join('\n')
}

/** Packets dropped by the rule, from `*-save -c` output (0 when absent). */
export function rawChainDropsOf(saveWithCounters: string, c: OwnedRawChain): number {
  const want = `-A ${c.chain} ${c.rule}`
  let inRaw = false
  for (const raw of saveWithCounters.split('\n')) {
    const line = raw.trim()
    if (line.startsWith('*')) inRaw = line === '*raw'
    else if (inRaw) {
      const m = /^\[(\d+):\d+\]\s+(.*)$/.exec(line)
      if (m && m[2] === want) return Number(m[1])
    }
  }
  return 0
}

async function exec(cmd: string, args: string[], input?: string): Promise<string> {
  const r = await run(cmd, args, { input, timeoutMs: 10_000 })
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.trim() || (r.timedOut ? 'timed out' : `exit ${r.code}`)}`)
  return r.stdout
}

/** Installs the chain (idempotent). Throws with the tool's message when it cannot. */
export async function installRawChain(tool: RawTableTool, c: OwnedRawChain): Promise<void> {
  const plan = planRawChain(await exec(`${tool}-save`, ['-t', 'raw']), c)
  if (plan !== '') await exec(`${tool}-restore`, ['--noflush'], plan)
}

export async function removeRawChain(tool: RawTableTool, chain: string): Promise<void> {
  const plan = planRawChainRemoval(await exec(`${tool}-save`, ['-t', 'raw']), chain)
  if (plan !== '') await exec(`${tool}-restore`, ['--noflush'], plan)
}

export async function rawChainDrops(tool: RawTableTool, c: OwnedRawChain): Promise<number> {
  return rawChainDropsOf(await exec(`${tool}-save`, ['-t', 'raw', '-c']), c)
}
