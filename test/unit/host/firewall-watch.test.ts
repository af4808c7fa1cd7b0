import { EventEmitter } from 'node:events'
import test from 'ava'
import { createLogger } from '../../../src/core/log.js'
import { type EventSocket, FirewallWatch, NFNL_SUBSYS_NFTABLES, NFT_MSG_NEWGEN, isRulesetChange } from '../../../src/host/firewall-watch.js'
import { Writable } from 'node:stream'

/** netlink messages (header + `payload` zero bytes), concatenated with 4-byte alignment */
function nl(...types: number[]): Buffer {
  const parts = types.map((type) => {
    const b = Buffer.alloc(20)
    b.writeUInt32LE(20, 0)
    b.writeUInt16LE(type, 4)
    return b
  })
  return Buffer.concat(parts)
}
const NFT = (msg: number) => (NFNL_SUBSYS_NFTABLES << 8) | msg

test('isRulesetChange: rule, chain and table messages are changes; a generation message alone is not', (t) => {
  t.true(isRulesetChange(nl(NFT(6)))) // NEWRULE
  t.true(isRulesetChange(nl(NFT(8)))) // DELRULE
  t.true(isRulesetChange(nl(NFT(0), NFT(3)))) // NEWTABLE + NEWCHAIN
  t.true(isRulesetChange(nl(NFT(5)))) // DELCHAIN
  t.false(isRulesetChange(nl(NFT(NFT_MSG_NEWGEN))))
  t.false(isRulesetChange(Buffer.alloc(0)))
  t.false(isRulesetChange(nl(0x0105)), 'another subsystem (conntrack) is not ours')
})

test('isRulesetChange: ip6tables-nft changes (nfgenmsg family AF_INET6) are changes too, on the same group', (t) => {
  for (const family of [2 /* AF_INET */, 10 /* AF_INET6 */, 1 /* NFPROTO_INET */]) {
    const m = nl(NFT(6), NFT(NFT_MSG_NEWGEN)) // NEWRULE then the generation
    m.writeUInt8(family, 16) // nfgen_family of the first message
    t.true(isRulesetChange(m), `family ${family}`)
  }
})

test('isRulesetChange: a malformed datagram counts as a change and never throws', (t) => {
  const short = nl(NFT(NFT_MSG_NEWGEN))
  short.writeUInt32LE(8, 0) // length below the header size
  t.true(isRulesetChange(short))
  const long = nl(NFT(NFT_MSG_NEWGEN))
  long.writeUInt32LE(4000, 0) // beyond the datagram
  t.true(isRulesetChange(long))
  t.true(isRulesetChange(Buffer.concat([nl(NFT(NFT_MSG_NEWGEN)), Buffer.alloc(5)])), 'trailing bytes')
  t.true(isRulesetChange(nl(2)), 'NLMSG_ERROR')
})

class FakeSocket extends EventEmitter implements EventSocket {
  groups: number[] = []
  closed = false
  addMembership(g: number): void { this.groups.push(g) }
  unref(): void {}
  close(): void { this.closed = true }
}

function quietLog() {
  const lines: string[] = []
  const stream = new Writable({ write(c, _e, cb) { lines.push(String(c)); cb() } })
  return { log: createLogger({ level: 'debug', format: 'json', stream }), lines }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

test('FirewallWatch: a burst of change events makes one check after the quiet time', async (t) => {
  const sock = new FakeSocket()
  let checks = 0
  const { log } = quietLog()
  const w = new FirewallWatch({ backend: 'nft', log, pollMs: 3000, safetyMs: 60_000, debounceMs: 30, check: async () => void checks++, openSocket: () => sock })
  t.is(w.start(), 'events')
  t.teardown(() => w.stop())
  for (let i = 0; i < 10; i++) sock.emit('message', nl(NFT(8)))
  sock.emit('message', nl(NFT(NFT_MSG_NEWGEN)))
  t.is(checks, 0, 'debounced')
  await sleep(80)
  t.is(checks, 1)
  t.is(w.events, 10)
  sock.emit('message', nl(NFT(NFT_MSG_NEWGEN)))
  await sleep(60)
  t.is(checks, 1, 'a generation message alone does not trigger a check')
  sock.emit('error', new Error('ENOBUFS'))
  await sleep(60)
  t.is(checks, 2, 'lost events: check')
  w.stop()
  t.true(sock.closed)
})

test('FirewallWatch: a change during a running check makes exactly one more check', async (t) => {
  const sock = new FakeSocket()
  let checks = 0
  let release: () => void = () => {}
  const { log } = quietLog()
  const w = new FirewallWatch({
    backend: 'nft', log, pollMs: 3000, debounceMs: 5, openSocket: () => sock,
    check: () => { checks++; return new Promise<void>((r) => (release = r)) },
  })
  w.start()
  t.teardown(() => w.stop())
  sock.emit('message', nl(NFT(6)))
  await sleep(30)
  t.is(checks, 1)
  sock.emit('message', nl(NFT(6)))
  await sleep(30)
  sock.emit('message', nl(NFT(6)))
  await sleep(30)
  t.is(checks, 1, 'not while one runs')
  release()
  await sleep(10)
  t.is(checks, 2, 'one more after it')
  release()
  await sleep(20)
  t.is(checks, 2)
})

test('FirewallWatch: without events (socket fails, or legacy) it polls and says so once', async (t) => {
  const { log, lines } = quietLog()
  let checks = 0
  const w = new FirewallWatch({ backend: 'nft', log, pollMs: 40, check: async () => void checks++, openSocket: () => { throw new Error('EPERM') } })
  t.is(w.start(), 'poll')
  t.teardown(() => w.stop())
  // polls again and again (waited for rather than slept: a loaded machine delays 40 ms timers)
  for (let i = 0; i < 100 && checks < 2; i++) await sleep(50)
  t.true(checks >= 2, `polled ${checks} times`)
  const polling = lines.filter((l) => l.includes('firewall-watch-polling'))
  t.is(polling.length, 1)
  t.regex(polling[0]!, /EPERM/)
  w.stop()
  const { log: log2, lines: lines2 } = quietLog()
  const legacy = new FirewallWatch({ backend: 'legacy', log: log2, pollMs: 1000, check: async () => {}, openSocket: () => { throw new Error('must not be opened') } })
  t.is(legacy.start(), 'poll')
  legacy.stop()
  t.regex(lines2.join(''), /legacy iptables announces no changes/)
})
