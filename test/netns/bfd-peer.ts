/**
 * A BfdService in its own process, driven over stdin/stdout (JSON lines), for
 * the netns and interop tests: run as `ip netns exec NS node --import tsx bfd-peer.ts`.
 *   in:  {id, cmd: 'add', spec} (auth key secrets as hex) | {id, cmd: 'remove', key}
 *        | {id, cmd: 'status'} | {id, cmd: 'block', ms, busy?} (stalls the main thread: Atomics.wait, or a busy loop with busy) | {id, cmd: 'close'}
 *   out: {ev: 'reply', id, ...} | {ev: 'state', key, from, to, diag, at}   (at: Date.now())
 */
import { createInterface } from 'node:readline'
import { BfdService } from '../../src/protocols/bfd/service.js'

const gtsm = process.argv.includes('--gtsm')
const bfd = await BfdService.start({ gtsm })
const out = (m: unknown) => process.stdout.write(`${JSON.stringify(m)}\n`)
bfd.on('state', (key, from, to, diag) => out({ ev: 'state', key, from, to, diag, at: Date.now() }))
bfd.on('error', (e) => out({ ev: 'error', message: e.message }))
out({ ev: 'ready' })

for await (const line of createInterface({ input: process.stdin })) {
  // biome-ignore lint/suspicious/noExplicitAny: the session spec as JSON (secrets in hex), converted below
  const m = JSON.parse(line) as { id: number; cmd: string; spec?: any; key?: string; ms?: number }
  try {
    if (m.cmd === 'add') {
      const spec = m.spec
      if (spec.auth) spec.auth.keys = spec.auth.keys.map((k: { id: number; secret: string }) => ({ id: k.id, secret: Buffer.from(k.secret, 'hex') }))
      await bfd.add(spec)
      out({ ev: 'reply', id: m.id })
    } else if (m.cmd === 'remove') {
      await bfd.remove(m.key!)
      out({ ev: 'reply', id: m.id })
    } else if (m.cmd === 'status') {
      out({ ev: 'reply', id: m.id, status: await bfd.status() })
    } else if (m.cmd === 'block') {
      const start = Date.now()
      out({ ev: 'reply', id: m.id, blockedFrom: start })
      if ((m as { busy?: boolean }).busy) {
        while (Date.now() - start < m.ms!) {
          // busy: the main thread's event loop does not run, and it eats a core
        }
      } else {
        // the event loop stalled without taking CPU from the worker: on a loaded 2-core machine a
        // busy loop on both sides also starves the workers' threads, which no design can prevent
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, m.ms!)
      }
      out({ ev: 'unblocked', at: Date.now() })
    } else if (m.cmd === 'close') {
      await bfd.close()
      out({ ev: 'reply', id: m.id })
      process.exit(0)
    }
  } catch (e) {
    out({ ev: 'reply', id: m.id, error: (e as Error).message })
  }
}
await bfd.close()
