/**
 * RIPng over UDP 521 (RFC 2080 2.5), on the underlay interface only.
 *
 *   unicast socket    bound to [LINK-LOCAL%IFACE]:521: receives answers and
 *                     unicast neighbours' packets, sends everything with the
 *                     link-local source address RFC 2080 2.4.2 requires,
 *                     source port 521, hop limit 255 (unicast and
 *                     multicast), multicast out of IFACE, loopback off.
 *   multicast socket  bound to [ff02::9%IFACE]:521 (never ::), member of
 *                     ff02::9 on IFACE only: ff02::9 on docker0 or a veth
 *                     finds no socket.
 *
 * The hop limit of received packets is checked by the ip6tables rule of
 * hop-limit.ts (Node cannot read it). The transport knows nothing of RIPng.
 */
import { createSocket, type Socket } from 'node:dgram'
import { RIPNG_MULTICAST } from './codec.js'

export interface RipngDatagram {
  /** sender address (RFC 5952 text, zone removed) and port */
  from: string
  port: number
  bytes: Buffer
  via: 'multicast' | 'unicast'
}

export interface RipngTransportOptions {
  /** the interface's link-local address (no zone) */
  linkLocal: string
  interface: string
  port: number
  onDatagram: (d: RipngDatagram) => void
  onError?: (where: string, e: Error) => void
  /**
   * How long open() keeps retrying while the link-local address cannot be
   * bound yet (EADDRNOTAVAIL: still tentative, duplicate address detection
   * runs for a second or two after the link comes up). Default 5000 ms.
   */
  bindWaitMs?: number
}

export class RipngTransport {
  readonly #opts: RipngTransportOptions
  #unicast: Socket | undefined
  #multicast: Socket | undefined
  #closed = false
  readonly counters = { 'rx-datagrams': 0, 'rx-bytes': 0, 'tx-datagrams': 0, 'tx-bytes': 0, 'tx-errors': 0 }
  lastSendError: string | undefined

  constructor(opts: RipngTransportOptions) {
    this.#opts = opts
  }

  #socket(via: RipngDatagram['via']): Socket {
    const s = createSocket({ type: 'udp6', reuseAddr: via === 'multicast', ipv6Only: true })
    s.on('message', (msg, rinfo) => {
      try {
        this.counters['rx-datagrams']++
        this.counters['rx-bytes'] += msg.length
        const pct = rinfo.address.indexOf('%')
        this.#opts.onDatagram({ from: pct >= 0 ? rinfo.address.slice(0, pct) : rinfo.address, port: rinfo.port, bytes: msg, via })
      } catch (e) {
        this.#opts.onError?.(`datagram (${via})`, e as Error)
      }
    })
    s.on('error', (e) => {
      if (!this.#closed) this.#opts.onError?.(`socket (${via})`, e)
    })
    return s
  }

  async open(): Promise<void> {
    const { linkLocal, interface: ifname, port } = this.#opts
    const bind = (s: Socket, address: string) =>
      new Promise<void>((resolve, reject) => {
        const onErr = (e: Error) => reject(e)
        s.once('error', onErr)
        s.bind({ port, address, exclusive: true }, () => {
          s.off('error', onErr)
          resolve()
        })
      })
    const until = Date.now() + (this.#opts.bindWaitMs ?? 5000)
    let uni: Socket
    for (;;) {
      uni = this.#socket('unicast')
      try {
        await bind(uni, `${linkLocal}%${ifname}`)
        break
      } catch (e) {
        uni.close()
        const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message
        // a tentative address (DAD not done) cannot be bound yet: wait for it
        if (code === 'EADDRNOTAVAIL' && Date.now() < until && !this.#closed) {
          await new Promise((r) => setTimeout(r, 200))
          continue
        }
        const hint = code === 'EADDRINUSE' ? ' (another RIPng speaker, e.g. ripngd or BIRD, runs on this host?)' : code === 'EADDRNOTAVAIL' ? ' (the link-local address is not usable: duplicate address detection still running or failed?)' : ''
        throw new Error(`cannot bind UDP [${linkLocal}%${ifname}]:${port} for RIPng: ${code}${hint}`)
      }
    }
    this.#unicast = uni
    uni.setTTL(255)
    uni.setMulticastTTL(255)
    uni.setMulticastLoopback(false)
    uni.setMulticastInterface(`::%${ifname}`)
    const mc = this.#socket('multicast')
    try {
      await bind(mc, `${RIPNG_MULTICAST}%${ifname}`)
      mc.addMembership(RIPNG_MULTICAST, `::%${ifname}`)
      mc.setMulticastLoopback(false)
    } catch (e) {
      mc.close()
      await this.close()
      throw new Error(`cannot receive RIPng multicast [${RIPNG_MULTICAST}%${ifname}]:${port}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
    }
    this.#multicast = mc
  }

  /** Sends one datagram; failures are counted and remembered, never thrown. */
  send(bytes: Buffer, address: string | 'multicast', port: number): Promise<boolean> {
    const sock = this.#unicast
    if (!sock || this.#closed) return Promise.resolve(false)
    const to = address === 'multicast' ? RIPNG_MULTICAST : address
    // link-local and multicast destinations need the zone
    const scoped = /^(fe[89ab]|ff)/i.test(to) ? `${to}%${this.#opts.interface}` : to
    return new Promise((resolve) => {
      sock.send(bytes, port, scoped, (e) => {
        if (e) {
          this.counters['tx-errors']++
          this.lastSendError = `[${to}]:${port}: ${(e as NodeJS.ErrnoException).code ?? e.message}`
          resolve(false)
        } else {
          this.counters['tx-datagrams']++
          this.counters['tx-bytes'] += bytes.length
          resolve(true)
        }
      })
    })
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const socks = [this.#unicast, this.#multicast].filter((s): s is Socket => s !== undefined)
    this.#unicast = undefined
    this.#multicast = undefined
    await Promise.all(socks.map((s) => new Promise<void>((r) => { try { s.close(() => r()) } catch { r() } })))
  }
}
