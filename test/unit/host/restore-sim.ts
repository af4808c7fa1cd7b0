/** Test helper: applies the restore scripts fabric writes to a parsed save, like iptables-restore --noflush, and walks a packet through the filter rules. */
import { type Saved, parseSave, rulesOf } from '../../../src/host/iptables.js'
import { containsAddress } from '../../../src/net/ipv4.js'
import { A, P } from '../../helpers/net.js'

export function applyScript(saved: Saved, script: string): Saved {
  let table = ''
  for (const line of script.split('\n')) {
    if (line.startsWith('*')) {
      table = line.slice(1)
      if (!saved.has(table)) saved.set(table, { chains: new Map(), rules: new Map() })
      continue
    }
    const t = saved.get(table)!
    if (line === 'COMMIT' || line === '') continue
    let m: RegExpExecArray | null
    if ((m = /^:(\S+) /.exec(line))) {
      t.chains.set(m[1]!, { policy: '-' })
      t.rules.set(m[1]!, [])
    } else if ((m = /^-F (\S+)$/.exec(line))) {
      if (!t.chains.has(m[1]!)) throw new Error(`-F of a missing chain: ${line}`)
      t.rules.set(m[1]!, [])
    } else if ((m = /^-X (\S+)$/.exec(line))) {
      // iptables refuses to delete a chain that is still referenced
      for (const [c, rules] of t.rules) if (rules.some((r) => new RegExp(`-[jg] ${m![1]}( |$)`).test(r))) throw new Error(`-X of ${m[1]} still referenced from ${c}`)
      t.chains.delete(m[1]!)
      t.rules.delete(m[1]!)
    } else if ((m = /^-A (\S+) (.*)$/.exec(line))) {
      const target = /-[jg] (\S+)$/.exec(m[2]!)?.[1]
      if (target?.startsWith('FABRIC-') && !t.chains.has(target)) throw new Error(`rule to a chain not yet created: ${line}`)
      t.rules.get(m[1]!)!.push(m[2]!)
    } else if ((m = /^-I (\S+) 1 (.*)$/.exec(line))) t.rules.get(m[1]!)!.unshift(m[2]!)
    else if ((m = /^-D (\S+) (.*)$/.exec(line))) {
      const rules = t.rules.get(m[1]!)
      const i = rules ? rules.indexOf(m[2]!) : -1
      if (i < 0) throw new Error(`-D of a missing rule: ${line}`)
      rules!.splice(i, 1)
    } else throw new Error(`unexpected line ${line}`)
  }
  return saved
}

export function render(s: Saved): string {
  let out = ''
  for (const [name, t] of s) {
    out += `*${name}\n`
    for (const [c, { policy }] of t.chains) out += `:${c} ${policy} [0:0]\n`
    for (const [c, rules] of t.rules) for (const r of rules) out += `-A ${c} ${r}\n`
    out += 'COMMIT\n'
  }
  return out
}

export function clone(s: Saved): Saved {
  return parseSave(render(s))
}

/**
 * The verdict of a chain for a packet (the subset fabric writes: -s, -d,
 * -j ACCEPT/DROP/RETURN/MASQUERADE/CHAIN, -g CHAIN). 'continue' means the
 * chain ended (or RETURNed) without a verdict.
 */
export function walk(saved: Saved, table: string, chain: string, src: string, dst: string): string {
  const s = A(src)
  const d = A(dst)
  for (const rule of rulesOf(saved, table, chain)) {
    const ms = /-s (\S+)/.exec(rule)
    const md = /-d (\S+)/.exec(rule)
    if (ms && !containsAddress(P(ms[1]!), s)) continue
    if (md && !containsAddress(P(md[1]!), d)) continue
    const j = /-([jg]) (\S+)$/.exec(rule)!
    if (j[2] === 'RETURN') return 'continue'
    if (['ACCEPT', 'DROP', 'MASQUERADE'].includes(j[2]!)) return j[2]!
    const v = walk(saved, table, j[2]!, src, dst)
    if (j[1] === 'g' || v !== 'continue') return v
  }
  return 'continue'
}
