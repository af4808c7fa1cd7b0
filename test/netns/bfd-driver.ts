/** Test-side driver of bfd-peer.ts processes in namespaces (see there for the protocol). */
import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { ExecutionContext } from 'ava'
import type { BfdStatus } from '../../src/protocols/bfd/service.js'
import { run, uniqueName } from './helpers.js'

const script = fileURLToPath(new URL('./bfd-peer.ts', import.meta.url))

export interface StateEvent {
  ev: 'state'
  key: string
  from: string
  to: string
  diag: number
  at: number
}

export interface PeerSpec {
  key: string
  local: string
  remote: string
  desiredMinTx?: number
  requiredMinRx?: number
  multiplier?: number
  auth?: { type: string; keys: { id: number; secret: string }[] }
}

export class BfdPeer {
  readonly ns: string
  readonly child: ChildProcess
  readonly events: StateEvent[] = []
  readonly stderr: string[] = []
  #id = 1
  #pending = new Map<number, (m: Record<string, unknown>) => void>()
  #waiters: (() => void)[] = []
  readonly ready: Promise<void>

  constructor(ns: string, opts: { gtsm?: boolean } = {}) {
    this.ns = ns
    this.child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', script, ...(opts.gtsm ? ['--gtsm'] : [])], { stdio: ['pipe', 'pipe', 'pipe'] })
    let onReady: () => void
    this.ready = new Promise((r) => (onReady = r))
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      // biome-ignore lint/suspicious/noExplicitAny: a JSON line of the driver script, read field by field below
      let m: any
      try {
        m = JSON.parse(line)
      } catch {
        this.stderr.push(line)
        return
      }
      if (m.ev === 'ready') onReady()
      else if (m.ev === 'reply') {
        this.#pending.get(m.id)?.(m)
        this.#pending.delete(m.id)
      } else if (m.ev === 'state') {
        this.events.push(m)
        for (const w of this.#waiters.splice(0)) w()
      }
    })
    createInterface({ input: this.child.stderr! }).on('line', (l) => this.stderr.push(l))
  }

  // biome-ignore lint/suspicious/noExplicitAny: the driver script's reply, shaped by the command
  call(cmd: Record<string, unknown>): Promise<any> {
    const id = this.#id++
    return new Promise((resolve, reject) => {
      this.#pending.set(id, (m) => (m.error ? reject(new Error(`${this.ns}: ${m.error}`)) : resolve(m)))
      this.child.stdin!.write(`${JSON.stringify({ id, ...cmd })}\n`)
    })
  }

  add(spec: PeerSpec): Promise<void> {
    return this.call({ cmd: 'add', spec: { desiredMinTx: 100, requiredMinRx: 100, multiplier: 3, ...spec } })
  }

  async status(): Promise<BfdStatus> {
    return (await this.call({ cmd: 'status' })).status
  }

  /** Resolves with the first state event after index `from` that matches, or undefined after timeoutMs. */
  async waitState(key: string, to: string, timeoutMs: number, from = 0): Promise<StateEvent | undefined> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const hit = this.events.slice(from).find((e) => e.key === key && e.to === to)
      if (hit) return hit
      const left = deadline - Date.now()
      if (left <= 0) return undefined
      await new Promise<void>((r) => {
        const timer = setTimeout(r, left)
        this.#waiters.push(() => {
          clearTimeout(timer)
          r()
        })
      })
    }
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return
    const exited = new Promise((r) => this.child.once('exit', r))
    await Promise.race([this.call({ cmd: 'close' }).catch(() => undefined), new Promise((r) => setTimeout(r, 3000))])
    if (this.child.exitCode === null) this.child.kill('SIGKILL')
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))])
  }
}

export async function sh(cmd: string, ...args: string[]): Promise<void> {
  const r = await run(cmd, args)
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`)
}

/** Two fresh namespaces joined by a veth: A 10.213.0.1/24 (dev vA), B 10.213.0.2/24 (dev vB); removed at teardown. */
export async function vethPair(t: ExecutionContext): Promise<{ nsA: string; nsB: string; vA: string; vB: string }> {
  const name = uniqueName('bf')
  const nsA = `${name}a`
  const nsB = `${name}b`
  const vA = `${name}va`
  const vB = `${name}vb`
  t.teardown(async () => {
    await run('ip', ['netns', 'del', nsA])
    await run('ip', ['netns', 'del', nsB])
  })
  await sh('ip', 'netns', 'add', nsA)
  await sh('ip', 'netns', 'add', nsB)
  await sh('ip', 'link', 'add', vA, 'netns', nsA, 'type', 'veth', 'peer', 'name', vB, 'netns', nsB)
  await sh('ip', '-n', nsA, 'addr', 'add', '10.213.0.1/24', 'dev', vA)
  await sh('ip', '-n', nsB, 'addr', 'add', '10.213.0.2/24', 'dev', vB)
  for (const [ns, dev] of [[nsA, vA], [nsB, vB]] as const) {
    await sh('ip', '-n', ns, 'link', 'set', dev, 'up')
    await sh('ip', '-n', ns, 'link', 'set', 'lo', 'up')
  }
  return { nsA, nsB, vA, vB }
}
