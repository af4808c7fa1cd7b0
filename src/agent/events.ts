/**
 * Fan-out of the agent's log events to control-API subscribers (/v1/events).
 * Each subscriber's queue is bounded: while more than `maxQueuedBytes` wait
 * to be written to it, its events are dropped (counted, and announced to it
 * by an `events-dropped` line once it catches up); one that has read
 * nothing for `stallMs` is disconnected. A client that never reads costs at
 * most the bound, never more.
 */
import type { Writable } from 'node:stream'
import type { Level } from '../core/log.js'
import type { EventsStatus } from '../api/types.js'
import { isoTime } from '../util/time.js'

export interface AgentEvent {
  time: string
  level: Level
  event: string
  [field: string]: unknown
}

export type EventListener = (e: AgentEvent) => void

/** Octets queued for one subscriber beyond which its events are dropped. */
export const MAX_QUEUED_BYTES = 1 << 20
/** A subscriber over its bound for this long is disconnected. */
export const STALL_MS = 60_000

export interface EventHubOptions {
  maxQueuedBytes?: number
  stallMs?: number
  now?: () => number
}

export class EventHub {
  private readonly listeners = new Set<EventListener>()
  readonly maxQueuedBytes: number
  private readonly stallMs: number
  private readonly now: () => number
  private droppedTotal = 0
  private disconnectedTotal = 0

  constructor(opts: EventHubOptions = {}) {
    this.maxQueuedBytes = opts.maxQueuedBytes ?? MAX_QUEUED_BYTES
    this.stallMs = opts.stallMs ?? STALL_MS
    this.now = opts.now ?? Date.now
  }

  publish(level: Level, event: string, fields: Record<string, unknown>): void {
    // nobody listening (the usual case): no event object, no timestamp
    if (this.listeners.size === 0) return
    const e: AgentEvent = { ...fields, time: isoTime(this.now()), level, event }
    for (const l of this.listeners) {
      try {
        l(e)
      } catch {
        this.listeners.delete(l)
      }
    }
  }

  subscribe(l: EventListener): () => void {
    this.listeners.add(l)
    return () => this.listeners.delete(l)
  }

  status(): EventsStatus {
    return { subscribers: this.listeners.size, dropped: this.droppedTotal, disconnected: this.disconnectedTotal }
  }

  /**
   * Streams every event from now on to `out` as NDJSON, within the queue
   * bound; `first` is written before them. Returns the unsubscribe function
   * (also called when `out` closes).
   */
  stream(out: Writable, first?: Record<string, unknown>): () => void {
    let dropped = 0
    let overSince: number | undefined
    let closed = false
    const write = (line: string): void => {
      out.write(line)
    }
    const off = (): void => {
      if (closed) return
      closed = true
      this.listeners.delete(listener)
      out.off('drain', onDrain)
    }
    const onDrain = (): void => {
      overSince = undefined
      if (dropped > 0) {
        write(`${JSON.stringify({ time: isoTime(this.now()), level: 'warn', event: 'events-dropped', count: dropped, note: 'this client read too slowly: events were left out' })}\n`)
        dropped = 0
      }
    }
    const listener: EventListener = (e) => {
      if (closed || out.destroyed) return off()
      const line = `${JSON.stringify(e)}\n`
      if (out.writableLength + line.length > this.maxQueuedBytes) {
        dropped++
        this.droppedTotal++
        const t = this.now()
        overSince ??= t
        if (t - overSince >= this.stallMs) {
          this.disconnectedTotal++
          off()
          out.destroy()
        }
        return
      }
      write(line)
    }
    out.on('drain', onDrain)
    out.once('close', off)
    if (first) write(`${JSON.stringify(first)}\n`)
    this.listeners.add(listener)
    return off
  }
}
