/**
 * RIP receive cost per packet (prints figures; not a test).
 *
 * Drives the real RipSource (engine, drop accounting, neighbour state,
 * logging) with datagrams handed in directly, through a transport without
 * sockets: no traffic at all. Measures packets/s for two kinds of response
 * at an empty table and at N learned routes:
 *
 *   refresh   one entry re-announcing a route the table holds (the steady state)
 *   refused   one entry outside the pool (dropped and counted per entry)
 *
 *   node --import tsx bench/rip-engine.ts [N ...]        (default: 0 8192)
 *
 * With FABRIC_USE_DIST=1 it loads the compiled modules from dist/ (npm run build).
 */
import { Writable } from 'node:stream'

const useDist = process.env.FABRIC_USE_DIST === '1'
const root = useDist ? '../dist' : '../src'
const { createLogger } = (await import(`${root}/core/log.js`)) as typeof import('../src/core/log.js')
const { loadConfig } = (await import(`${root}/config/fabric-config.js`)) as typeof import('../src/config/fabric-config.js')
const { RipSource } = (await import(`${root}/protocols/rip/source.js`)) as typeof import('../src/protocols/rip/source.js')
const { encodePacket } = (await import(`${root}/protocols/rip/codec.js`)) as typeof import('../src/protocols/rip/codec.js')
type RipDatagram = import('../src/protocols/rip/transport.js').RipDatagram
type RipRouteEntry = import('../src/protocols/rip/codec.js').RipRouteEntry

const ip = (s: string): number => s.split('.').reduce((a, o) => a * 256 + Number(o), 0) >>> 0
const SELF = ip('172.31.0.1')
const PEER = ip('172.31.0.2')
const PEER2 = ip('172.31.0.3')

function entry(i: number, metric = 1): RipRouteEntry {
  // 10.(1 + i / 256).(i % 256).0/24: /24s of the pool 10.0.0.0/8, never this host's 10.0.0.0/24
  return { kind: 'route', tag: 0, prefix: { addr: (ip('10.1.0.0') + i * 256) >>> 0, len: 24 }, nextHop: 0, metric }
}

async function measure(routes: number): Promise<{ refresh: number; refused: number }> {
  const config = loadConfig({ overrides: { mode: 'rip', pool: '10.0.0.0/8', hostPrefix: 24, subnet: '10.0.0.0/24', rip: { 'rip-max-routes': String(routes + 100) } } })
  const self = { name: 'bench', address: SELF, subnet: { addr: ip('10.0.0.0'), len: 24 }, interface: 'bench0', underlay: { addr: ip('172.31.0.0'), len: 16 } }
  const log = createLogger({ level: 'warn', format: 'json', stream: new Writable({ write: (_c, _e, cb) => cb() }) })
  let deliver: ((d: RipDatagram) => void) | undefined
  const source = new RipSource(
    { config, self, log, onReady: () => undefined },
    {
      transport: (o) => {
        deliver = o.onDatagram
        return { open: async () => undefined, send: async () => true, close: async () => undefined, counters: { 'rx-datagrams': 0, 'rx-bytes': 0, 'tx-datagrams': 0, 'tx-bytes': 0, 'tx-errors': 0 }, lastSendError: undefined }
      },
    },
  )
  let added = 0
  await source.start({ add: () => void added++, withdraw: () => undefined, withdrawPeer: () => 0 })
  if (!deliver) throw new Error('no transport was created')
  const send = deliver
  for (let i = 0; i < routes; i += 25) {
    const entries = []
    for (let j = i; j < Math.min(routes, i + 25); j++) entries.push(entry(j))
    send({ from: PEER, port: 520, bytes: encodePacket({ command: 'response', entries }), via: 'unicast' })
  }
  if (added < routes) throw new Error(`table holds ${added} routes, expected ${routes}`)
  const refresh = encodePacket({ command: 'response', entries: [entry(0)] })
  const refused = encodePacket({ command: 'response', entries: [{ kind: 'route', tag: 0, prefix: { addr: ip('192.168.7.0'), len: 24 }, nextHop: 0, metric: 1 }] })
  const rate = (bytes: Buffer, from: number): number => {
    const ms = 1500
    let n = 0
    const t0 = performance.now()
    while (performance.now() - t0 < ms) {
      for (let k = 0; k < 100; k++) send({ from, port: 520, bytes, via: 'unicast' })
      n += 100
    }
    return Math.round(n / ((performance.now() - t0) / 1000))
  }
  const out = { refresh: rate(refresh, PEER), refused: rate(refused, PEER2) }
  await source.stop()
  return out
}

const sizes = process.argv.slice(2).map(Number).filter((n) => Number.isInteger(n) && n >= 0)
console.log(`rip receive bench (${useDist ? 'dist' : 'src via tsx'}), node ${process.version}`)
console.log('routes   refresh pkt/s   refused pkt/s')
for (const n of sizes.length > 0 ? sizes : [0, 8192]) {
  const r = await measure(n)
  console.log(`${String(n).padStart(6)}   ${String(r.refresh).padStart(13)}   ${String(r.refused).padStart(13)}`)
}
