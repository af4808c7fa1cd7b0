/**
 * RIPng's hop-limit check (RFC 2080 2.4.2): multicast datagrams to
 * ff02::9 UDP 521 (periodic and triggered updates) must arrive with hop
 * limit 255, so one from beyond the link never reaches the engine. Unicast
 * answers to requests are not covered by the RFC's check: FRR ripngd sends
 * them with hop limit 64 (seen in test/fixtures/ripng), and they are
 * accepted (the engine still requires a link-local source and port 521).
 *
 * Node's dgram cannot read a received packet's hop limit (no recvmsg()
 * ancillary data, no IPV6_RECVHOPLIMIT, no setsockopt), so, as BFD does for
 * the IPv4 TTL (protocols/bfd/gtsm.ts, same code shape), the check is one
 * rule in a chain fabric owns, in ip6tables' raw table:
 *
 *   -t raw -A FABRIC-RIPNG -d ff02::9/128 -p udp --dport 521 -m hl ! --hl-eq 255 -j DROP
 *   -t raw -I PREROUTING 1 -j FABRIC-RIPNG
 *
 * Only that chain and the single jump to it are ever written. Planning is
 * pure (ip6tables-save text in, ip6tables-restore input out); the rule's
 * packet counter is the drop count reported in stats.
 */
import { execFile } from 'node:child_process'

export const HOP_LIMIT_CHAIN = 'FABRIC-RIPNG'

/** One raw-table chain with one rule, owned by fabric (the shape of bfd/gtsm.ts, for any table tool). */
export interface OwnedRawChain {
  readonly chain: string
  /** the rule as iptables-save prints it, without "-A CHAIN" */
  readonly rule: string
}

export function hopLimitChain(port: number): OwnedRawChain {
  return { chain: HOP_LIMIT_CHAIN, rule: `-d ff02::9/128 -p udp -m udp --dport ${port} -m hl ! --hl-eq 255 -j DROP` }
}

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

function exec(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: 10_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || error.message}`))
      else resolve(stdout)
    })
    if (input !== undefined) child.stdin?.end(input)
  })
}

/** Installs the hop-limit check in ip6tables (idempotent). Throws with ip6tables' message when it cannot. */
export async function installHopLimitCheck(port: number): Promise<void> {
  const plan = planRawChain(await exec('ip6tables-save', ['-t', 'raw']), hopLimitChain(port))
  if (plan !== '') await exec('ip6tables-restore', ['--noflush'], plan)
}

export async function removeHopLimitCheck(): Promise<void> {
  const plan = planRawChainRemoval(await exec('ip6tables-save', ['-t', 'raw']), HOP_LIMIT_CHAIN)
  if (plan !== '') await exec('ip6tables-restore', ['--noflush'], plan)
}

export async function hopLimitDrops(port: number): Promise<number> {
  return rawChainDropsOf(await exec('ip6tables-save', ['-t', 'raw', '-c']), hopLimitChain(port))
}
