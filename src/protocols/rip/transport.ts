/**
 * RIP over UDP (dgram-as-promised), on the underlay interface only.
 *
 * Node has neither SO_BINDTODEVICE nor IP_PKTINFO, so "only the underlay
 * interface" is built from what binding and multicast membership give us:
 *
 *   unicast socket    bound to UNDERLAY_ADDRESS:520. Receives datagrams
 *                     addressed to the underlay address (requests' answers,
 *                     unicast neighbours) and sends everything: source
 *                     address = underlay address, source port 520, multicast
 *                     out of the underlay interface (IP_MULTICAST_IF), TTL 1,
 *                     multicast loopback off.
 *   multicast socket  bound to 224.0.0.9:520 (never 0.0.0.0), member of
 *                     224.0.0.9 on the underlay interface only. The kernel
 *                     accepts a datagram for 224.0.0.9 only on an interface
 *                     that joined the group, so 224.0.0.9 on docker0 or a
 *                     veth is dropped before it reaches any socket.
 *
 * Nothing is bound to the wildcard address or to docker0's address, so a
 * datagram to docker0's address (10.244.x.1:520) finds no socket. What
 * remains is a container sending to the host's underlay address through
 * docker0 (Linux accepts any local address on any interface): its source is
 * a container address, and the engine accepts only sources on the underlay
 * network (drop-packet:off-link). A container able to forge an underlay
 * source address (CAP_NET_RAW) is stopped by strict reverse-path filtering
 * on docker0 (net.ipv4.conf.docker0.rp_filter=1) or by authentication; see
 * docs/protocols.md (RIP mode).
 *
 * The transport knows nothing of RIP: it hands datagrams up and sends bytes.
 */
import { DgramAsPromised, type SocketAsPromised } from 'dgram-as-promised'
import { formatAddress, parseAddress } from '../../net/ipv4.js'
import { RIP_MULTICAST } from './codec.js'

export const RIP_MULTICAST_TEXT = formatAddress(RIP_MULTICAST)

export interface RipDatagram {
  /** sender address (uint32) and port */
  from: number
  port: number
  bytes: Buffer
  /** which socket it came in on */
  via: 'multicast' | 'unicast'
}

export interface RipTransportOptions {
  /** the underlay address (dotted) */
  address: string
  port: number
  /** join 224.0.0.9 (false: unicast neighbours only) */
  multicast: boolean
  /** a failure to join 224.0.0.9 is reported through onError instead of failing open() (unicast neighbours configured) */
  multicastOptional?: boolean
  onDatagram: (d: RipDatagram) => void
  /** a socket error that is not about one datagram (logged by the caller) */
  onError?: (where: string, e: Error) => void
}

export interface RipTransportCounters {
  'rx-datagrams': number
  'rx-bytes': number
  'tx-datagrams': number
  'tx-bytes': number
  'tx-errors': number
}

/** Largest datagram read: RIP packets are at most ~600 bytes; larger are hostile. */
const RECV_BUFFER = 256 * 1024

export class RipTransport {
  readonly #opts: RipTransportOptions
  #unicast: SocketAsPromised | undefined
  #multicast: SocketAsPromised | undefined
  #closed = false
  readonly #loops: Promise<void>[] = []
  readonly counters: RipTransportCounters = { 'rx-datagrams': 0, 'rx-bytes': 0, 'tx-datagrams': 0, 'tx-bytes': 0, 'tx-errors': 0 }
  lastSendError: string | undefined

  constructor(opts: RipTransportOptions) {
    this.#opts = opts
  }

  /** Binds the sockets. Throws with the address and port named when it cannot. */
  async open(): Promise<void> {
    const { address, port } = this.#opts
    const uni = DgramAsPromised.createSocket({ type: 'udp4', reuseAddr: false })
    try {
      await uni.bind({ port, address, exclusive: true })
    } catch (e) {
      uni.destroy()
      uni.socket.close()
      throw new Error(`cannot bind UDP ${address}:${port} for RIP: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}${(e as NodeJS.ErrnoException).code === 'EADDRINUSE' ? ' (another RIP speaker, e.g. ripd or BIRD, runs on this host?)' : ''}`)
    }
    this.#unicast = uni
    uni.setTTL(1)
    uni.setMulticastTTL(1)
    uni.setMulticastLoopback(false)
    uni.setMulticastInterface(address)
    uni.setRecvBufferSize(RECV_BUFFER)
    this.#loops.push(this.#receive(uni, 'unicast'))
    if (this.#opts.multicast) {
      const mc = DgramAsPromised.createSocket({ type: 'udp4', reuseAddr: true })
      try {
        await mc.bind({ port, address: RIP_MULTICAST_TEXT, exclusive: true })
        mc.addMembership(RIP_MULTICAST_TEXT, address)
        mc.setMulticastLoopback(false)
        mc.setRecvBufferSize(RECV_BUFFER)
      } catch (e) {
        mc.destroy()
        mc.socket.close()
        const error = new Error(`cannot receive RIP multicast ${RIP_MULTICAST_TEXT}:${port} on ${address}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
        if (this.#opts.multicastOptional) {
          this.#opts.onError?.('multicast join (unicast neighbours still work)', error)
          return
        }
        await this.close()
        throw error
      }
      this.#multicast = mc
      this.#loops.push(this.#receive(mc, 'multicast'))
    }
  }

  async #receive(sock: SocketAsPromised, via: RipDatagram['via']): Promise<void> {
    while (!this.#closed) {
      try {
        // the loop body is synchronous, so no datagram is emitted while no recv() listens
        for await (const { msg, rinfo } of sock) {
          this.counters['rx-datagrams']++
          this.counters['rx-bytes'] += msg.length
          const from = parseAddress(rinfo.address)
          if (!from.ok) continue
          this.#opts.onDatagram({ from: from.value, port: rinfo.port, bytes: msg, via })
        }
        return // socket closed
      } catch (e) {
        if (this.#closed) return
        this.#opts.onError?.(`receive (${via})`, e as Error)
      }
    }
  }

  /** Sends one datagram; failures are counted and remembered, never thrown. */
  async send(bytes: Buffer, address: number | 'multicast', port: number): Promise<boolean> {
    const sock = this.#unicast
    if (!sock || this.#closed) return false
    const to = address === 'multicast' ? RIP_MULTICAST_TEXT : formatAddress(address)
    try {
      await sock.send(bytes, port, to)
      this.counters['tx-datagrams']++
      this.counters['tx-bytes'] += bytes.length
      return true
    } catch (e) {
      this.counters['tx-errors']++
      this.lastSendError = `${to}:${port}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`
      return false
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const socks = [this.#unicast, this.#multicast].filter((s): s is SocketAsPromised => s !== undefined)
    this.#unicast = undefined
    this.#multicast = undefined
    await Promise.all(socks.map((s) => s.close().catch(() => undefined)))
    await Promise.all(this.#loops.splice(0).map((l) => l.catch(() => undefined)))
  }
}
