/**
 * BFD for RIP ([rip] bfd = yes): one session per neighbour, as BIRD's `bfd`
 * option of an RIP interface: each configured unicast neighbour from the
 * start, each neighbour heard (multicast) from its first accepted packet;
 * a heard neighbour's session ends when RIP forgets it.
 *
 *   const bfd = new RipBfd({ config, local, interface, port: ctx.bfd, log, onDown })
 *   await bfd.start(configuredNeighbours)
 *   bfd.heard(address)       // O(1); adds a session the first time
 *   bfd.forget(address)      // RIP forgot the neighbour
 *   bfd.details(address)     // details.bfd of `fabric peers` (null: no session)
 *   await bfd.stop()         // AdminDown to every neighbour, sessions removed
 *
 * onDown(address) runs when a session leaves Up, except when the neighbour
 * said AdminDown (RFC 5882 3.2: an administrative down, e.g. its agent
 * restarting, is no failure: the routes stay on RIP's own timeout).
 * Sessions that never came up are silent: a neighbour without BFD keeps
 * RIP's timeout.
 */
import type { Logger } from '../../core/log.js'
import type { BfdConfig } from '../../config/bfd-config.js'
import { loadBfdKeyFile } from '../../config/bfd-config.js'
import { DIAG_TEXT, Diag } from '../bfd/codec.js'
import { peerBfdDetails } from '../bfd/details.js'
import type { BfdPort, BfdSessionView, BfdStateName, PeerBfdDetails } from '../../rib/source.js'


const KEY_PREFIX = 'rip/'
const STATUS_EVERY_MS = 1000

export interface RipBfdOptions {
  config: BfdConfig
  /** our address on the RIP interface (dotted) */
  local: string
  interface: string
  port: (() => Promise<BfdPort>) | undefined
  log: Logger
  onDown: (address: string) => void
  now?: () => number
}

export class RipBfd {
  readonly #o: RipBfdOptions
  readonly #now: () => number
  readonly #sessions = new Set<string>()
  readonly #status = new Map<string, BfdSessionView>()
  #statusAt = 0
  #port: BfdPort | undefined
  #auth: Parameters<BfdPort['add']>[0]['auth']
  #timer: NodeJS.Timeout | undefined
  #stopped = false
  readonly #onDownEvent = (key: string, diag: number, remote: BfdStateName): void => this.#down(key, diag, remote)

  constructor(o: RipBfdOptions) {
    this.#o = o
    this.#now = o.now ?? Date.now
  }

  get enabled(): boolean {
    return this.#o.config.enabled
  }

  /** Starts the agent's BFD service (first use) and the configured neighbours' sessions. Throws when the key file is bad. */
  async start(configured: readonly string[]): Promise<void> {
    const c = this.#o.config
    if (!c.enabled) return
    if (!this.#o.port) {
      this.#o.log.warn('rip-bfd-unavailable', { note: 'this agent has no BFD service: RIP timeouts only' })
      return
    }
    if (c.auth !== 'none') {
      const { keys, warnings } = loadBfdKeyFile(c.keyFile!, c.auth)
      for (const w of warnings) this.#o.log.warn('bfd-key-file-permissions', { message: w })
      this.#auth = { type: c.auth, keys: keys.map((k) => ({ id: k.id, secret: new Uint8Array(k.secret) })) }
    }
    this.#port = await this.#o.port()
    this.#port.on('down', this.#onDownEvent)
    this.#o.log.info('rip-bfd-started', { interval: c.interval, multiplier: c.multiplier, auth: c.auth, neighbors: configured.length > 0 ? configured : 'as heard' })
    for (const a of configured) this.heard(a)
    this.#timer = setInterval(() => void this.#refresh(), STATUS_EVERY_MS)
    this.#timer.unref()
  }

  /** A neighbour was heard: its session, the first time. */
  heard(address: string): void {
    const port = this.#port
    if (!port || this.#stopped || this.#sessions.has(address)) return
    this.#sessions.add(address)
    const c = this.#o.config
    port.add({
      key: KEY_PREFIX + address, local: this.#o.local, remote: address, interface: this.#o.interface,
      desiredMinTx: c.interval, requiredMinRx: c.interval, multiplier: c.multiplier,
      ...(this.#auth ? { auth: this.#auth } : {}),
    }).then(
      () => this.#o.log.info('rip-bfd-session-added', { neighbor: address, detectionTimeMs: c.interval * c.multiplier }),
      (e: Error) => {
        this.#sessions.delete(address)
        this.#o.log.limited('warn', 'rip-bfd-session-failed', address, { neighbor: address, error: e.message })
      },
    )
  }

  /** RIP forgot the neighbour: its session goes (AdminDown first). */
  forget(address: string): void {
    const port = this.#port
    if (!port || !this.#sessions.delete(address)) return
    this.#status.delete(address)
    port.remove(KEY_PREFIX + address).catch((e: Error) => this.#o.log.debug('rip-bfd-remove-failed', { neighbor: address, error: e.message }))
  }

  details(address: string): PeerBfdDetails | null {
    if (!this.#sessions.has(address)) return null
    return peerBfdDetails(this.#status.get(address), Math.max(0, this.#now() - this.#statusAt))
  }

  /** SIGTERM or leave: every session removed (the neighbours see AdminDown, which is no failure). */
  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = undefined
    const port = this.#port
    if (!port) return
    port.off('down', this.#onDownEvent as (...args: never[]) => void)
    const keys = [...this.#sessions]
    this.#sessions.clear()
    await Promise.all(keys.map((a) => port.remove(KEY_PREFIX + a).catch(() => undefined)))
  }

  async #refresh(): Promise<void> {
    const port = this.#port
    if (!port || this.#sessions.size === 0) return
    try {
      const st = await port.status()
      this.#status.clear()
      for (const s of st.sessions) {
        const address = s.key.startsWith(KEY_PREFIX) ? s.key.slice(KEY_PREFIX.length) : undefined
        if (address !== undefined && this.#sessions.has(address)) this.#status.set(address, s)
      }
      this.#statusAt = this.#now()
    } catch (e) {
      this.#o.log.limited('warn', 'rip-bfd-status-failed', 'status', { error: (e as Error).message })
    }
  }

  #down(key: string, diag: number, remote: BfdStateName): void {
    if (!key.startsWith(KEY_PREFIX) || this.#stopped) return
    const address = key.slice(KEY_PREFIX.length)
    if (!this.#sessions.has(address)) return
    // the neighbour said Down or AdminDown: only a Down is a failure (RFC 5882 3.2). Decided on
    // the state that caused the down, not on a later status (the neighbour may have started over)
    if (diag === Diag.NeighborSignaledDown && remote === 'AdminDown') {
      this.#o.log.info('rip-bfd-neighbor-admin-down', { neighbor: address, note: 'routes kept on the RIP timeout' })
      return
    }
    this.#fail(address, diag)
  }

  #fail(address: string, diag: number): void {
    if (this.#stopped) return
    this.#o.log.warn('rip-bfd-down', { neighbor: address, diag: DIAG_TEXT[diag] ?? String(diag), note: 'routes via this neighbour withdrawn' })
    this.#o.onDown(address)
  }
}
