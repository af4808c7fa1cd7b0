/**
 * What bench/bfd.ts and bench/bfd-stress.ts share: the BfdService they load
 * (dist/ with FABRIC_USE_DIST=1), a veth pair between two namespaces with one
 * address on one side and N on the other, and a role process in a namespace
 * (the bench script itself, `role LOCALS REMOTES`) whose JSON lines on stdout
 * are collected as events.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

async function loadService(): Promise<typeof import('../src/protocols/bfd/service.js')> {
  if (process.env.FABRIC_USE_DIST === '1') return (await import(new URL('../dist/protocols/bfd/service.js', import.meta.url).href)) as typeof import('../src/protocols/bfd/service.js')
  return import('../src/protocols/bfd/service.js')
}

export function sh(...args: string[]): void {
  execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] })
}

/**
 * Namespaces TAGf (one address NET.0.1/16) and TAGp (n addresses NET.0.2 and
 * up) on a veth; removed at process exit. Returns the peers' addresses.
 */
export function vethLab(tag: string, net: string, n: number): { nsF: string; nsP: string; local: string; peers: string[] } {
  const nsF = `${tag}f`
  const nsP = `${tag}p`
  process.on('exit', () => {
    for (const ns of [nsF, nsP]) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' })
      } catch {
        // not there
      }
    }
  })
  sh('ip', 'netns', 'add', nsF)
  sh('ip', 'netns', 'add', nsP)
  sh('ip', 'link', 'add', `${tag}f`, 'netns', nsF, 'type', 'veth', 'peer', 'name', `${tag}p`, 'netns', nsP)
  const local = `${net}.0.1`
  sh('ip', '-n', nsF, 'addr', 'add', `${local}/16`, 'dev', `${tag}f`)
  const peers = Array.from({ length: n }, (_, i) => `${net}.${Math.floor((i + 2) / 256)}.${(i + 2) % 256}`)
  for (const a of peers) sh('ip', '-n', nsP, 'addr', 'add', `${a}/16`, 'dev', `${tag}p`)
  for (const [ns, dev] of [[nsF, `${tag}f`], [nsP, `${tag}p`]]) sh('ip', '-n', ns!, 'link', 'set', dev!, 'up')
  return { nsF, nsP, local, peers }
}

export interface Role<E> {
  child: ChildProcess
  events: E[]
  /** waits until pred() holds (checked at every event and every 100 ms) or ms pass; returns pred() */
  until(pred: () => boolean, ms: number): Promise<boolean>
  send(m: unknown): void
}

/** Starts `SCRIPT role LOCALS REMOTES` in namespace ns (through tsx, with this process's environment). */
export function startRole<E>(script: string, ns: string, locals: string[], remotes: string[]): Role<E> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', script, 'role', locals.join(','), remotes.join(',')], { stdio: ['pipe', 'pipe', 'inherit'], env: process.env })
  const events: E[] = []
  const waiters: (() => void)[] = []
  createInterface({ input: child.stdout! }).on('line', (l) => {
    events.push(JSON.parse(l) as E)
    for (const w of waiters.splice(0)) w()
  })
  const until = async (pred: () => boolean, ms: number) => {
    const end = Date.now() + ms
    while (!pred() && Date.now() < end)
      await new Promise<void>((r) => {
        waiters.push(r)
        setTimeout(r, 100)
      })
    return pred()
  }
  return { child, events, until, send: (m: unknown) => child.stdin!.write(`${JSON.stringify(m)}\n`) }
}

/**
 * The role's side: a BfdService with one session per remote at 100 ms x 3
 * (keys s0, s1, ...; locals paired by index, or one local for all), every
 * state change written to stdout as `{ ev: 'state', key, from, to, at }`,
 * then `{ ev: 'ready' }`. `out` writes one more JSON line.
 */
export async function roleSessions(locals: string[], remotes: string[]) {
  const { BfdService } = await loadService()
  const bfd = await BfdService.start()
  const out = (m: unknown) => process.stdout.write(`${JSON.stringify(m)}\n`)
  bfd.on('state', (key, from, to) => out({ ev: 'state', key, from, to, at: Date.now() }))
  for (let i = 0; i < remotes.length; i++) {
    await bfd.add({ key: `s${i}`, local: locals[locals.length === 1 ? 0 : i]!, remote: remotes[i]!, desiredMinTx: 100, requiredMinRx: 100, multiplier: 3 })
  }
  out({ ev: 'ready' })
  return { bfd, out }
}

/** Sessions whose last state event (`{ ev: 'state', key, to }`) is Up. */
export function upCount(events: readonly { ev: string; key?: string; to?: string }[]): number {
  const st = new Map<string, string>()
  for (const e of events) if (e.ev === 'state') st.set(e.key!, e.to!)
  return [...st.values()].filter((s) => s === 'Up').length
}
