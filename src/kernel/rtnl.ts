/**
 * A small rtnetlink client over a raw NETLINK_ROUTE socket (from the
 * `netlink` package's native binding; the message codec is ours, in
 * rtnl-codec.ts). Batches many route messages per datagram with a bounded
 * window of unacknowledged requests, so 100k routes go in at tens of
 * thousands per second with one process and no `ip` children.
 */
import { RawNetlinkSocket } from 'netlink/dist/raw.js'
import {
  NLMSG, NLM_F, RTM, RTNLGRP, type KernelAddress, type KernelLink, type NlMessage, type RouteSpec,
  decodeAddress, decodeError, decodeLink, decodeRoute, encodeDump, encodeRouteInto, routeMessageSize, splitMessages,
} from './rtnl-codec.js'
import type { KernelRoute } from './types.js'
import type { Result } from '../util/result.js'

const NETLINK_ROUTE = 0

export type RouteOpKind = 'add' | 'replace' | 'delete'

export interface RouteOp {
  kind: RouteOpKind
  spec: RouteSpec
}

export interface RouteOpResult {
  op: RouteOp
  /** 0 on success, else errno (e.g. 17 EEXIST, 3 ESRCH, 101 ENETUNREACH) */
  errno: number
}

export class RtnlError extends Error {
  constructor(message: string, readonly errno: number) {
    super(message)
    this.name = 'RtnlError'
  }
}

interface Pending {
  resolve: (msgs: NlMessage[]) => void
  reject: (e: Error) => void
  parts: NlMessage[]
  /** streaming dumps: each part is handed over as it arrives, none kept */
  onPart?: (m: NlMessage) => void
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 3: 'ESRCH', 13: 'EACCES', 17: 'EEXIST', 19: 'ENODEV', 22: 'EINVAL', 101: 'ENETUNREACH', 113: 'EHOSTUNREACH', 105: 'ENOBUFS',
}
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`
}

/** Request/response rtnetlink socket. One per agent; not shared between namespaces. */
export class Rtnl {
  private readonly sock: RawNetlinkSocket
  private seq = Math.floor(Math.random() * 0x7fffffff)
  private readonly pending = new Map<number, Pending>()
  private batchAcks: Map<number, (errno: number) => void> | undefined
  private closed = false
  private readonly maxWindow: number
  /** the kernel runs one dump per socket at a time (EBUSY otherwise) */
  private dumpChain: Promise<unknown> = Promise.resolve()

  constructor() {
    this.sock = new RawNetlinkSocket(NETLINK_ROUTE, { recvBufferSize: 8 << 20, sendBufferSize: 4 << 20 } as never)
    // Nothing may throw back into the native binding (it aborts the process).
    this.sock.on('message', (buf: Buffer) => {
      try {
        this.receive(buf)
      } catch (e) {
        this.failAll(e as Error)
      }
    })
    this.sock.on('error', (e: Error) => {
      try {
        this.failAll(e)
      } catch {
        /* already failing */
      }
    })
    // acks queue as separate skbs (~1 KiB of receive buffer each); more
    // unacknowledged requests than the buffer holds would lose acks (ENOBUFS)
    this.maxWindow = Math.max(32, Math.min(2048, Math.floor(this.sock.getRecvBufferSize() / 2048)))
    this.sock.unref()
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.failAll(new Error('rtnetlink socket closed'))
    this.sock.close()
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0 || 1
    return this.seq
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e)
    this.pending.clear()
    if (this.batchAcks) for (const cb of this.batchAcks.values()) cb(105)
    this.batchAcks = undefined
  }

  private receive(buf: Buffer): void {
    const split = splitMessages(buf)
    if (!split.ok) return
    for (const m of split.value) {
      const ack = this.batchAcks?.get(m.seq)
      if (ack && m.type === NLMSG.ERROR) {
        const e = decodeError(m.payload)
        this.batchAcks!.delete(m.seq)
        ack(e.ok ? e.value.errno : 22)
        continue
      }
      const p = this.pending.get(m.seq)
      if (!p) continue
      if (m.type === NLMSG.DONE) {
        this.pending.delete(m.seq)
        p.resolve(p.parts)
      } else if (m.type === NLMSG.ERROR) {
        this.pending.delete(m.seq)
        const e = decodeError(m.payload)
        const errno = e.ok ? e.value.errno : 22
        if (errno === 0) p.resolve(p.parts)
        else p.reject(new RtnlError(`rtnetlink: ${errnoName(errno)}`, errno))
      } else {
        if (p.onPart) p.onPart(m)
        else p.parts.push(m)
        if ((m.flags & NLM_F.MULTI) === 0) {
          this.pending.delete(m.seq)
          p.resolve(p.parts)
        }
      }
    }
  }

  private dump(type: number, onPart?: (m: NlMessage) => void): Promise<NlMessage[]> {
    const run = (): Promise<NlMessage[]> => {
      const seq = this.nextSeq()
      return this.request(encodeDump(type, seq), seq, onPart)
    }
    const p = this.dumpChain.then(run, run)
    this.dumpChain = p.catch(() => undefined)
    return p
  }

  private request(msg: Buffer, seq: number, onPart?: (m: NlMessage) => void): Promise<NlMessage[]> {
    if (this.closed) return Promise.reject(new Error('rtnetlink socket closed'))
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject, parts: [], onPart })
      this.sock.ref()
      this.sock.send(msg, {}, (e?: Error) => {
        if (e) {
          this.pending.delete(seq)
          reject(e)
        }
      })
    }).finally(() => {
      if (this.pending.size === 0 && !this.batchAcks?.size) this.sock.unref()
    }) as Promise<NlMessage[]>
  }

  /** Dumps one kind of object and decodes the replies of type `reply`; undecodable ones are skipped. */
  private async dumpDecoded<T>(request: number, reply: number, decode: (payload: Buffer) => Result<T | undefined, unknown>): Promise<T[]> {
    const out: T[] = []
    for (const m of await this.dump(request)) {
      if (m.type !== reply) continue
      const r = decode(m.payload)
      if (r.ok && r.value !== undefined) out.push(r.value)
    }
    return out
  }

  dumpRoutes(): Promise<KernelRoute[]> {
    return this.dumpDecoded(RTM.GETROUTE, RTM.NEWROUTE, decodeRoute)
  }

  /** Counts the IPv4 routes of a protocol in a table from a dump, without decoding them (cheap on huge tables). */
  async countRoutes(protocol: number, table = 254): Promise<number> {
    let n = 0
    await this.dump(RTM.GETROUTE, (m) => {
      const p = m.payload
      if (m.type === RTM.NEWROUTE && p.length >= 12 && p[0] === 2 && p[5] === protocol && (p[4] === table || p[4] === 252)) n++
    })
    return n
  }

  /** Streams the IPv4 routes to `onRoute` as the dump arrives; nothing is kept. */
  async streamRoutes(onRoute: (r: KernelRoute) => void): Promise<void> {
    await this.dump(RTM.GETROUTE, (m) => {
      if (m.type !== RTM.NEWROUTE) return
      const r = decodeRoute(m.payload)
      if (r.ok && r.value) onRoute(r.value)
    })
  }

  dumpAddresses(): Promise<KernelAddress[]> {
    return this.dumpDecoded(RTM.GETADDR, RTM.NEWADDR, decodeAddress)
  }

  dumpLinks(): Promise<KernelLink[]> {
    return this.dumpDecoded(RTM.GETLINK, RTM.NEWLINK, decodeLink)
  }

  /**
   * Applies route operations, many per datagram, with at most `window`
   * unacknowledged at once. Every op gets its own result; one failure does
   * not stop the others.
   */
  async applyRoutes(ops: readonly RouteOp[], maxWindow = 2048): Promise<RouteOpResult[]> {
    const window = Math.min(maxWindow, this.maxWindow)
    if (this.closed) throw new Error('rtnetlink socket closed')
    if (this.batchAcks) throw new Error('applyRoutes is not reentrant')
    const results: RouteOpResult[] = new Array(ops.length)
    if (ops.length === 0) return results
    const acks = new Map<number, (errno: number) => void>()
    this.batchAcks = acks
    this.sock.ref()
    const CHUNK = Math.min(16384, window * 48)
    try {
      await new Promise<void>((resolve) => {
        let next = 0
        let done = 0
        let inflight = 0
        const pump = (): void => {
          while (next < ops.length && inflight < window) {
            const buf = Buffer.allocUnsafe(CHUNK + 128)
            let off = 0
            while (next < ops.length && inflight < window && off + routeMessageSize(ops[next]!.spec) <= CHUNK) {
              const i = next++
              const op = ops[i]!
              const seq = this.nextSeq()
              const [type, flags] = op.kind === 'delete'
                ? [RTM.DELROUTE, NLM_F.REQUEST | NLM_F.ACK]
                : op.kind === 'replace'
                  ? [RTM.NEWROUTE, NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.REPLACE]
                  : [RTM.NEWROUTE, NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL]
              off = encodeRouteInto(buf, off, type, flags, seq, op.spec)
              inflight++
              acks.set(seq, (errno) => {
                results[i] = { op, errno }
                inflight--
                done++
                if (done === ops.length) resolve()
                else if (inflight < window / 2) setImmediate(pump)
              })
            }
            this.sock.send(buf.subarray(0, off), {}, (e?: Error) => {
              if (e) this.failAll(e)
            })
          }
        }
        pump()
      })
    } finally {
      this.batchAcks = undefined
      if (this.pending.size === 0) this.sock.unref()
    }
    return results
  }
}

export interface RouteEvent {
  kind: 'new' | 'del'
  route: KernelRoute
}

/**
 * Listens to IPv4 route changes (RTNLGRP_IPV4_ROUTE) so fabric notices a
 * route of its own deleted or changed by hand, or a foreign route appearing.
 */
export class RouteMonitor {
  private readonly sock: RawNetlinkSocket
  private paused = false

  constructor(onEvent: (e: RouteEvent) => void, onOverrun: () => void) {
    this.sock = new RawNetlinkSocket(NETLINK_ROUTE, { recvBufferSize: 4 << 20 } as never)
    this.sock.addMembership(RTNLGRP.IPV4_ROUTE)
    // nothing may throw back into the native binding
    this.sock.on('message', (buf: Buffer) => {
      try {
        if (this.paused) return
        const split = splitMessages(buf)
        if (!split.ok) return onOverrun()
        for (const m of split.value) {
          if (m.type !== RTM.NEWROUTE && m.type !== RTM.DELROUTE) continue
          const r = decodeRoute(m.payload)
          if (r.ok && r.value) onEvent({ kind: m.type === RTM.NEWROUTE ? 'new' : 'del', route: r.value })
        }
      } catch {
        onOverrun()
      }
    })
    // ENOBUFS: events were lost; the caller does a full reconcile
    this.sock.on('error', () => {
      try {
        onOverrun()
      } catch {
        /* ignore */
      }
    })
    this.sock.unref()
  }

  /** Stops receiving events (during fabric's own large batches); resume() rejoins. */
  pause(): void {
    if (this.paused) return
    this.paused = true
    try {
      this.sock.dropMembership(RTNLGRP.IPV4_ROUTE)
    } catch {
      /* closed */
    }
  }

  resume(): void {
    if (!this.paused) return
    this.paused = false
    try {
      this.sock.addMembership(RTNLGRP.IPV4_ROUTE)
    } catch {
      /* closed */
    }
  }

  close(): void {
    this.sock.close()
  }
}
