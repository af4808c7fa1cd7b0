/** Fan-out of the agent's log events to control-API subscribers (/v1/events). */
import type { Level } from '../core/log.js'

export interface AgentEvent {
  time: string
  level: Level
  event: string
  [field: string]: unknown
}

export type EventListener = (e: AgentEvent) => void

export class EventHub {
  private readonly listeners = new Set<EventListener>()
  /** the last events, so a new subscriber can catch up */
  private readonly recent: AgentEvent[] = []

  constructor(private readonly keep = 200) {}

  publish(level: Level, event: string, fields: Record<string, unknown>): void {
    const e: AgentEvent = { ...fields, time: new Date().toISOString(), level, event }
    this.recent.push(e)
    if (this.recent.length > this.keep) this.recent.shift()
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

  history(): AgentEvent[] {
    return [...this.recent]
  }

  get subscribers(): number {
    return this.listeners.size
  }
}
