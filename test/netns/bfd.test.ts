/**
 * BFD between two BfdService processes in two namespaces on a veth: session
 * up, link-down detection, recovery, a blocked main thread (no false down),
 * the TTL 255 check, SHA1 authentication and a wrong key.
 */
import test, { type ExecutionContext } from 'ava'
import { encodePacket } from '../../src/protocols/bfd/codec.js'
import { BfdPeer, sh, vethPair } from './bfd-driver.js'
import { waitFor } from './helpers.js'

async function pair(t: ExecutionContext, opts: { gtsm?: boolean } = {}): Promise<{ a: BfdPeer; b: BfdPeer; nsA: string; nsB: string; vA: string }> {
  const { nsA, nsB, vA } = await vethPair(t)
  const a = new BfdPeer(nsA, opts)
  const b = new BfdPeer(nsB, opts)
  t.teardown(async () => {
    await a.close()
    await b.close()
  })
  await Promise.all([a.ready, b.ready])
  return { a, b, nsA, nsB, vA }
}

test('session comes up, survives a 2.5 s blocked main thread, detects link down in < 1 s, comes back', async (t) => {
  const { a, b, nsA, vA } = await pair(t, { gtsm: true })
  await a.add({ key: 'b', local: '10.213.0.1', remote: '10.213.0.2' })
  await b.add({ key: 'a', local: '10.213.0.2', remote: '10.213.0.1' })
  t.truthy(await a.waitState('b', 'Up', 5000), `a never Up: ${a.stderr.join('\n')}`)
  t.truthy(await b.waitState('a', 'Up', 5000))
  // the Poll Sequence after Up switches both sides from the 1 s slow rate to 100 ms
  const st = (await waitFor(async () => {
    const s = (await a.status()).sessions[0]!
    return s.detectionTime === 300 ? s : undefined
  }, 3000, 20)) ?? (await a.status()).sessions[0]!
  t.is(st.detectionTime, 300)
  t.is(st.txInterval, 100)
  t.true(st.sourcePort >= 49152 && st.sourcePort <= 65535)

  // both main threads stalled for 2.5 s at once (their event loops do not run): BFD runs in the
  // worker and must not go down. The stall is Atomics.wait, not a busy loop: what is claimed is
  // independence from the main loop; two spinning threads on a loaded 2-core machine also take the
  // CPU from the workers (an OS scheduling matter, not the design's). A BFD with timers or packets
  // on the main thread, or a worker waiting for it, still fails this at 300 ms detection time.
  const before = [a.events.length, b.events.length]
  const inBefore = (await b.status()).sessions[0]!.packetsIn
  await Promise.all([a.call({ cmd: 'block', ms: 2500 }), b.call({ cmd: 'block', ms: 2500 })])
  await new Promise((r) => setTimeout(r, 3000))
  t.deepEqual(a.events.slice(before[0]), [], 'no state change on a during the block')
  t.deepEqual(b.events.slice(before[1]), [], 'no state change on b during the block')
  const during = (await b.status()).sessions[0]!
  t.is(during.state, 'Up')
  // ~11 packets/s (100 ms, jitter 75-100%): at least 25 in the 3 s that include the block
  t.true(during.packetsIn - inBefore >= 25, `b received ${during.packetsIn - inBefore} packets in 3 s`)

  // a packet with TTL 64 never reaches BFD (the TTL 255 check, RFC 5881 5)
  const unmatchedBefore = (await a.status()).unmatched['10.213.0.1']?.['no-session'] ?? 0
  await sendWithTtl(b.ns, '10.213.0.1', 64)
  await new Promise((r) => setTimeout(r, 200))
  const after = await a.status()
  t.is(after.ttlDrops, 1, 'dropped by the TTL check')
  t.is(after.unmatched['10.213.0.1']?.['no-session'] ?? 0, unmatchedBefore, 'never reached the socket')

  const mark = b.events.length
  const downAt = Date.now()
  await sh('ip', '-n', nsA, 'link', 'set', vA, 'down')
  const down = await b.waitState('a', 'Down', 3000, mark)
  t.truthy(down)
  const ms = down!.at - downAt
  t.log(`link down detected by the far side in ${ms} ms (detection time 300 ms)`)
  t.is(down!.diag, 1)
  t.true(ms < 1000)
  const aDown = await a.waitState('b', 'Down', 3000)
  t.truthy(aDown)
  await sh('ip', '-n', nsA, 'link', 'set', vA, 'up')
  const upAt = Date.now()
  t.truthy(await b.waitState('a', 'Up', 10_000, mark))
  t.log(`back up ${Date.now() - upAt} ms after link up`)
})

/** Sends a well-formed Down packet to ADDRESS:3784 from namespace NS with the given TTL (a forged off-link sender). */
async function sendWithTtl(ns: string, address: string, ttl: number): Promise<void> {
  const bytes = encodePacket({ diag: 0, state: 'Down', poll: false, final: false, cpi: false, demand: false, detectMult: 3, myDiscriminator: 77, yourDiscriminator: 0, desiredMinTx: 1_000_000, requiredMinRx: 1_000_000, requiredMinEchoRx: 0 })
  const code = `const s=require('dgram').createSocket('udp4');s.bind(0,()=>{s.setTTL(${ttl});s.send(Buffer.from('${bytes.toString('hex')}','hex'),3784,'${address}',()=>s.close())})`
  await sh('ip', 'netns', 'exec', ns, process.execPath, '-e', code)
}

test('SHA1 authentication comes up; a wrong key never does', async (t) => {
  const { a, b } = await pair(t)
  const key = (s: string) => ({ type: 'meticulous-sha1', keys: [{ id: 7, secret: Buffer.from(s).toString('hex') }] })
  await a.add({ key: 'good', local: '10.213.0.1', remote: '10.213.0.2', auth: key('fabric-sha1') })
  await b.add({ key: 'good', local: '10.213.0.2', remote: '10.213.0.1', auth: key('fabric-sha1') })
  t.truthy(await a.waitState('good', 'Up', 5000))
  t.truthy(await b.waitState('good', 'Up', 5000))
  await a.call({ cmd: 'remove', key: 'good' })
  await b.call({ cmd: 'remove', key: 'good' })
  await a.add({ key: 'bad', local: '10.213.0.1', remote: '10.213.0.2', auth: key('fabric-sha1') })
  await b.add({ key: 'bad', local: '10.213.0.2', remote: '10.213.0.1', auth: key('another-key') })
  await new Promise((r) => setTimeout(r, 3500))
  t.is(a.events.filter((e) => e.key === 'bad').length, 0)
  const s = (await a.status()).sessions.find((x) => x.key === 'bad')!
  t.is(s.state, 'Down')
  t.true((s.drops['auth-digest'] ?? 0) >= 2, JSON.stringify(s.drops))
})
