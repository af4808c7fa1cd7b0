/**
 * When to check fabric's firewall chains. With iptables-nft the kernel
 * announces every nf_tables change on netlink (NETLINK_NETFILTER, multicast
 * group NFNLGRP_NFTABLES: the messages `nft monitor` prints), so a Docker
 * restart or an `iptables -F` is seen as it happens and no process has to be
 * started to look. The check runs shortly after a burst of changes
 * (debounced), plus a slow safety check (a lost event, ENOBUFS). Without
 * events (legacy iptables, which announces nothing; no socket; no
 * permission) it polls at the configured interval, as before; that is logged
 * once.
 *
 * fabric's own repairs are changes too: each is followed by one more check,
 * which finds nothing to do.
 */
import { requireCjs } from '../util/cjs.js'
import type { Logger } from '../core/log.js'
import type { Backend } from './iptables.js'

export const NETLINK_NETFILTER = 12
export const NFNLGRP_NFTABLES = 7
// the CommonJS package through require, not an ESM import (util/cjs.ts)
const { RawNetlinkSocket } = requireCjs('netlink/dist/raw.js') as typeof import('netlink/dist/raw.js')

export const NFNL_SUBSYS_NFTABLES = 10
/** the last message of every nf_tables transaction (a new ruleset generation) */
export const NFT_MSG_NEWGEN = 15
const NLMSG_HDRLEN = 16
/**
 * The safety check while events arrive: every 5 minutes. Lost events are
 * reported by the socket (ENOBUFS, checked at once), so this is for the
 * unforeseen; each check starts iptables-save, which an idle agent should not
 * do every minute (bench/idle).
 */
export const SAFETY_MS = 300_000
const NLMSG_ERROR = 2
const NLMSG_OVERRUN = 4

/**
 * Whether a datagram from the NFNLGRP_NFTABLES group reports a change of the
 * ruleset (a table, chain, rule, set or element added or removed). Reads only
 * the netlink headers, validating their lengths; a malformed datagram counts
 * as a change (checking once more is always safe).
 */
export function isRulesetChange(buf: Uint8Array): boolean {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  let off = 0
  while (off + NLMSG_HDRLEN <= buf.byteLength) {
    const len = view.getUint32(off, true)
    const type = view.getUint16(off + 4, true)
    if (len < NLMSG_HDRLEN || off + len > buf.byteLength) return true
    if (type === NLMSG_ERROR || type === NLMSG_OVERRUN) return true
    if (type >> 8 === NFNL_SUBSYS_NFTABLES && (type & 0xff) !== NFT_MSG_NEWGEN) return true
    off += (len + 3) & ~3
  }
  return off < buf.byteLength
}

/** The part of a netlink socket the watch uses (a RawNetlinkSocket). */
export interface EventSocket {
  on(event: 'message', listener: (msg: Buffer) => void): unknown
  on(event: 'error', listener: (err: Error) => void): unknown
  addMembership(group: number): void
  unref(): void
  close(): void
}

export interface FirewallWatchOptions {
  backend: Backend
  /** the check-and-repair (never rejects; a second call while one runs is the caller's to merge) */
  check: () => Promise<void>
  log: Logger
  /** polling interval when no events can be had (--firewall-check-interval) */
  pollMs: number
  /** safety check interval while events arrive (default SAFETY_MS) */
  safetyMs?: number
  /** quiet time after a change before the check runs (default 150 ms) */
  debounceMs?: number
  /** opens the event socket (tests inject a failing one); default NETLINK_NETFILTER */
  openSocket?: () => EventSocket
}

export type WatchMode = 'events' | 'poll'

export class FirewallWatch {
  private sock: EventSocket | undefined
  private interval: NodeJS.Timeout | undefined
  private debounce: NodeJS.Timeout | undefined
  private running = false
  private again = false
  private stopped = false
  mode: WatchMode = 'poll'
  /** change notifications received */
  events = 0
  /** checks run because of a notification */
  triggered = 0
  fallbackReason: string | undefined

  constructor(private readonly opts: FirewallWatchOptions) {}

  start(): WatchMode {
    this.stopped = false
    if (this.opts.backend === 'nft') {
      try {
        const sock = (this.opts.openSocket ?? openNetfilterSocket)()
        sock.on('message', (msg: Buffer) => {
          try {
            if (!isRulesetChange(msg)) return
            this.events++
            this.schedule()
          } catch {
            this.schedule()
          }
        })
        // ENOBUFS (events lost) or anything else: look, then carry on
        sock.on('error', () => this.schedule())
        sock.unref()
        this.sock = sock
        this.mode = 'events'
      } catch (e) {
        this.fallbackReason = `no nf_tables events: ${(e as Error).message}`
      }
    } else {
      this.fallbackReason = 'legacy iptables announces no changes'
    }
    const every = this.mode === 'events' ? (this.opts.safetyMs ?? SAFETY_MS) : this.opts.pollMs
    if (this.mode === 'poll') this.opts.log.info('firewall-watch-polling', { intervalSeconds: this.opts.pollMs / 1000, reason: this.fallbackReason })
    else this.opts.log.debug('firewall-watch-events', { safetyCheckSeconds: every / 1000 })
    this.interval = setInterval(() => this.run(), every)
    this.interval.unref()
    return this.mode
  }

  stop(): void {
    this.stopped = true
    if (this.interval) clearInterval(this.interval)
    if (this.debounce) clearTimeout(this.debounce)
    this.interval = undefined
    this.debounce = undefined
    try {
      this.sock?.close()
    } catch {
      /* closed */
    }
    this.sock = undefined
  }

  private schedule(): void {
    if (this.stopped) return
    if (this.debounce) clearTimeout(this.debounce)
    this.debounce = setTimeout(() => {
      this.debounce = undefined
      this.triggered++
      this.run()
    }, this.opts.debounceMs ?? 150)
    this.debounce.unref()
  }

  /** Runs the check; a request while one runs makes one more run after it. */
  private run(): void {
    if (this.stopped) return
    if (this.running) {
      this.again = true
      return
    }
    this.running = true
    this.opts.check().catch(() => undefined).finally(() => {
      this.running = false
      if (this.again) {
        this.again = false
        this.run()
      }
    })
  }
}

function openNetfilterSocket(): EventSocket {
  const sock = new RawNetlinkSocket(NETLINK_NETFILTER, { recvBufferSize: 1 << 20 } as never)
  try {
    sock.addMembership(NFNLGRP_NFTABLES)
  } catch (e) {
    sock.close()
    throw e
  }
  return sock as unknown as EventSocket
}
