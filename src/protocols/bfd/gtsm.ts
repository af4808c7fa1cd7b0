/**
 * The RFC 5881 5 TTL check (GTSM, RFC 5082): single-hop BFD packets must
 * arrive with TTL 255, so a packet sent from beyond the link (TTL decremented
 * by a router) cannot reach a session.
 *
 * Why a kernel rule: Node's dgram gives the application neither the received
 * TTL (no recvmsg() ancillary data, IP_RECVTTL) nor setsockopt() (IP_MINTTL,
 * a BPF socket filter); a native addon or a helper process in another
 * language would be the only other ways. So the check is one rule in a chain
 * fabric owns, in the raw table (before conntrack, the cheapest place):
 *
 *   -t raw -A FABRIC-BFD -p udp --dport 3784 -m ttl ! --ttl-eq 255 -j DROP
 *   -t raw -I PREROUTING 1 -j FABRIC-BFD
 *
 * Its packet counter is the drops.ttl figure of BfdService.status(). Only
 * the chain FABRIC-BFD and the single jump to it are ever written.
 * Planning is pure (iptables-save text in, iptables-restore input out).
 */
import { run } from '../../util/process.js'

export const GTSM_CHAIN = 'FABRIC-BFD'

function ruleFor(port: number): string {
  return `-p udp -m udp --dport ${port} -m ttl ! --ttl-eq 255 -j DROP`
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

/** iptables-restore --noflush input that puts the chain and its jump in place; '' when already there. */
export function planGtsm(save: string, port: number): string {
  const lines = rawTableLines(save)
  const jump = lines.includes(`-A PREROUTING -j ${GTSM_CHAIN}`)
  const chainRules = lines.filter((l) => l.startsWith(`-A ${GTSM_CHAIN} `))
  const want = `-A ${GTSM_CHAIN} ${ruleFor(port)}`
  if (jump && chainRules.length === 1 && chainRules[0] === want) return ''
  // declaring a user chain in --noflush mode creates or flushes it
  const out = ['*raw', `:${GTSM_CHAIN} - [0:0]`, want]
  if (!jump) out.push(`-I PREROUTING 1 -j ${GTSM_CHAIN}`)
  out.push('COMMIT', '')
  return out.join('\n')
}

/** iptables-restore --noflush input that removes the chain and its jump(s); '' when absent. */
export function planGtsmRemoval(save: string): string {
  const lines = rawTableLines(save)
  const jumps = lines.filter((l) => l === `-A PREROUTING -j ${GTSM_CHAIN}`).length
  const chain = lines.includes(`:${GTSM_CHAIN} - [0:0]`) || lines.some((l) => l.startsWith(`:${GTSM_CHAIN} `))
  if (!chain && jumps === 0) return ''
  const out = ['*raw']
  for (let i = 0; i < jumps; i++) out.push(`-D PREROUTING -j ${GTSM_CHAIN}`)
  if (chain) out.push(`:${GTSM_CHAIN} - [0:0]`, `-X ${GTSM_CHAIN}`)
  out.push('COMMIT', '')
  return out.join('\n')
}

/** Packets dropped by the rule, from `iptables-save -c` output (0 when the rule is absent). */
export function gtsmDropsOf(saveWithCounters: string, port: number): number {
  const want = `-A ${GTSM_CHAIN} ${ruleFor(port)}`
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

/** Installs the TTL check (idempotent). Throws with iptables' message when it cannot. */
export async function installGtsm(port: number): Promise<void> {
  const plan = planGtsm(await exec('iptables-save', ['-t', 'raw']), port)
  if (plan !== '') await exec('iptables-restore', ['--noflush'], plan)
}

export async function removeGtsm(): Promise<void> {
  const plan = planGtsmRemoval(await exec('iptables-save', ['-t', 'raw']))
  if (plan !== '') await exec('iptables-restore', ['--noflush'], plan)
}

export async function gtsmDrops(port: number): Promise<number> {
  return gtsmDropsOf(await exec('iptables-save', ['-t', 'raw', '-c']), port)
}
