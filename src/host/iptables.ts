/**
 * iptables access for the host integration: the backend the host uses
 * (legacy or nf_tables), `iptables-save` parsing, and atomic changes with
 * `iptables-restore --noflush`. Only fabric's own chains are ever written;
 * other chains only get fabric's single jump rules added or removed.
 * ip6tables (dual-stack hosts) is the same programs' IPv6 twin, with the
 * backend IPv4 uses (detectIp6tables).
 */
import { run } from '../util/process.js'

export type Backend = 'nft' | 'legacy'

/** One table of `iptables-save`: chains (with policy for built-ins) and rules per chain, in order. */
export interface SavedTable {
  chains: Map<string, { policy: string }>
  /** rule specs without the leading `-A CHAIN ` */
  rules: Map<string, string[]>
}

export type Saved = Map<string, SavedTable>

/** Parses `iptables-save` output (any tables). Counters and comments are ignored. */
export function parseSave(text: string): Saved {
  const out: Saved = new Map()
  let cur: SavedTable | undefined
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    if (line.startsWith('*')) {
      cur = { chains: new Map(), rules: new Map() }
      out.set(line.slice(1), cur)
      continue
    }
    if (!cur) continue
    if (line === 'COMMIT') {
      cur = undefined
      continue
    }
    if (line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(/\s+/)
      if (name) {
        cur.chains.set(name, { policy: policy ?? '-' })
        if (!cur.rules.has(name)) cur.rules.set(name, [])
      }
      continue
    }
    const m = /^(?:\[\d+:\d+\]\s+)?-A\s+(\S+)\s+(.*)$/.exec(line)
    if (m) {
      const chain = m[1]!
      if (!cur.rules.has(chain)) cur.rules.set(chain, [])
      cur.rules.get(chain)!.push(normalizeRule(m[2]!))
    }
  }
  return out
}

/** Whitespace-normalised rule spec, so that planned and saved rules compare equal. */
export function normalizeRule(spec: string): string {
  return spec.trim().replace(/\s+/g, ' ')
}

/** A table's rules in a chain (empty when the chain is absent). */
export function rulesOf(saved: Saved, table: string, chain: string): string[] {
  return saved.get(table)?.rules.get(chain) ?? []
}

export function hasChain(saved: Saved, table: string, chain: string): boolean {
  return saved.get(table)?.chains.has(chain) ?? false
}

/** Number of rules in a save (all tables), a measure of "this backend is in use". */
export function ruleCount(saved: Saved): number {
  let n = 0
  for (const t of saved.values()) for (const r of t.rules.values()) n += r.length
  return n
}

/** Docker's chains, whose presence tells which backend Docker programs. */
const DOCKER_CHAINS = ['DOCKER', 'DOCKER-USER', 'DOCKER-ISOLATION-STAGE-1', 'DOCKER-FORWARD']

export function hasDockerChains(saved: Saved): boolean {
  for (const t of saved.values()) for (const c of DOCKER_CHAINS) if (t.chains.has(c)) return true
  return false
}

/**
 * Picks the backend from what each one holds: the one with Docker's chains,
 * else the one with any rules, else what `iptables -V` says (the distribution's
 * default), else nft.
 */
export function chooseBackend(input: { nft?: Saved; legacy?: Saved; defaultVersion?: string }): { backend: Backend; reason: string } {
  const { nft, legacy } = input
  const nd = nft ? hasDockerChains(nft) : false
  const ld = legacy ? hasDockerChains(legacy) : false
  if (nd && !ld) return { backend: 'nft', reason: "Docker's chains are in nf_tables" }
  if (ld && !nd) return { backend: 'legacy', reason: "Docker's chains are in the legacy tables" }
  const nc = nft ? ruleCount(nft) : 0
  const lc = legacy ? ruleCount(legacy) : 0
  if (lc > 0 && nc === 0) return { backend: 'legacy', reason: 'only the legacy tables hold rules' }
  if (nc > 0 && lc === 0) return { backend: 'nft', reason: 'only nf_tables holds rules' }
  if (input.defaultVersion?.includes('legacy')) return { backend: 'legacy', reason: `iptables -V: ${input.defaultVersion.trim()}` }
  if (input.defaultVersion?.includes('nf_tables')) return { backend: 'nft', reason: `iptables -V: ${input.defaultVersion.trim()}` }
  if (!nft && legacy) return { backend: 'legacy', reason: 'only iptables-legacy is installed' }
  return { backend: 'nft', reason: 'default' }
}

export interface ExecResult {
  code: number
  stdout: string
  stderr: string
}

export type Exec = (cmd: string, args: string[], input?: string) => Promise<ExecResult>

/** Runs iptables programs through the one process runner (20 s each). */
export const execCommand: Exec = (cmd, args, input) => run(cmd, args, { input, timeoutMs: 20_000 })

/** The iptables (or ip6tables) commands of one backend. */
export class Iptables {
  constructor(readonly backend: Backend, private readonly exec: Exec = execCommand, readonly names = binaries(backend)) {}

  async save(tables: string[]): Promise<Saved> {
    const out: Saved = new Map()
    for (const t of tables) {
      const r = await this.exec(this.names.save, ['-t', t])
      if (r.code !== 0) throw new Error(`${this.names.save} -t ${t} failed: ${r.stderr.trim()}`)
      for (const [k, v] of parseSave(r.stdout)) out.set(k, v)
    }
    return out
  }

  /** Applies a restore script atomically (per table), leaving all other chains as they are. */
  async restore(script: string): Promise<void> {
    const r = await this.exec(this.names.restore, ['-w', '5', '--noflush'], script)
    if (r.code !== 0) throw new Error(`${this.names.restore} --noflush failed: ${r.stderr.trim()}\n${script}`)
  }
}

export function binaries(backend: Backend, family: 4 | 6 = 4): { save: string; restore: string; cmd: string } {
  const tool = family === 6 ? 'ip6tables' : 'iptables'
  return { save: `${tool}-${backend}-save`, restore: `${tool}-${backend}-restore`, cmd: `${tool}-${backend}` }
}

/**
 * ip6tables with the backend IPv4 uses (Docker programs both families with
 * one backend): `ip6tables-BACKEND-save`, else plain `ip6tables-save` when
 * `ip6tables -V` names that backend. `{ missing }` (the reason) when neither
 * is there: the host then runs without IPv6 chains, with a warning.
 */
export async function detectIp6tables(backend: Backend, exec: Exec = execCommand): Promise<{ ipt: Iptables; reason: string } | { missing: string }> {
  const own = binaries(backend, 6)
  const r = await exec(own.save, [])
  if (r.code === 0) return { ipt: new Iptables(backend, exec, own), reason: `${own.save}, as for IPv4` }
  const v = await exec('ip6tables', ['-V'])
  if (v.code !== 0) return { missing: `neither ${own.save} nor ip6tables is installed (${(r.stderr || v.stderr).trim() || `exit ${v.code}`})` }
  const theirs = v.stdout.includes('legacy') ? 'legacy' : v.stdout.includes('nf_tables') ? 'nft' : undefined
  if (theirs !== undefined && theirs !== backend) return { missing: `${own.save} is missing and ip6tables is the ${theirs} backend (${v.stdout.trim()}) while IPv4 uses ${backend}` }
  const plain = { save: 'ip6tables-save', restore: 'ip6tables-restore', cmd: 'ip6tables' }
  const s = await exec(plain.save, [])
  if (s.code !== 0) return { missing: `ip6tables-save failed: ${s.stderr.trim() || `exit ${s.code}`}` }
  return { ipt: new Iptables(backend, exec, plain), reason: `ip6tables -V: ${v.stdout.trim()}` }
}

/**
 * Detects the backend on this host (forced by `want` unless auto). Falls back
 * to plain `iptables-save`/`iptables-restore` when the -nft/-legacy variants
 * are not installed.
 */
export async function detectIptables(want: string | undefined, exec: Exec = execCommand): Promise<{ ipt: Iptables; reason: string }> {
  const tryBackend = async (b: Backend): Promise<Saved | undefined> => {
    const r = await exec(`iptables-${b}-save`, [])
    return r.code === 0 ? parseSave(r.stdout) : undefined
  }
  if (want === 'nft' || want === 'legacy') {
    const s = await tryBackend(want)
    if (s) return { ipt: new Iptables(want, exec), reason: `--iptables-backend ${want}` }
    return { ipt: new Iptables(want, exec, { save: 'iptables-save', restore: 'iptables-restore', cmd: 'iptables' }), reason: `--iptables-backend ${want} (plain iptables binaries)` }
  }
  const [nft, legacy, v] = await Promise.all([tryBackend('nft'), tryBackend('legacy'), exec('iptables', ['-V'])])
  if (!nft && !legacy) {
    if (v.code !== 0) throw new Error(`iptables is not installed (${v.stderr.trim()}); install iptables or pass --no-firewall`)
    const backend: Backend = v.stdout.includes('legacy') ? 'legacy' : 'nft'
    return { ipt: new Iptables(backend, exec, { save: 'iptables-save', restore: 'iptables-restore', cmd: 'iptables' }), reason: `iptables -V: ${v.stdout.trim()}` }
  }
  const choice = chooseBackend({ nft, legacy, defaultVersion: v.code === 0 ? v.stdout : undefined })
  if (choice.backend === 'nft' && !nft) return { ipt: new Iptables('legacy', exec), reason: 'only iptables-legacy is installed' }
  if (choice.backend === 'legacy' && !legacy) return { ipt: new Iptables('nft', exec), reason: 'only iptables-nft is installed' }
  return { ipt: new Iptables(choice.backend, exec), reason: choice.reason }
}
