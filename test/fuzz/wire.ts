/** Line protocol between the campaign (parent, root namespace) and an attacker process (inside the attacker's namespace). */

/** One input the attacker sent, kept in its ring for a finding's reproduction. */
export interface SentRecord {
  readonly index: number
  readonly kind: string
  readonly hex: string
  /** how it was written (split offsets, source address, ...) */
  readonly how?: string
}

export type AttackerEvent =
  | { t: 'ready' }
  | { t: 'progress'; sent: number; sessions: number; lastIndex: number }
  | { t: 'finding'; name: string; detail: string; index?: number; hex?: string }
  | { t: 'episode'; name: string; phase: 'start' | 'end'; sent: number; data?: Record<string, unknown> }
  | { t: 'agent-down'; lastIndex: number }
  | { t: 'ring'; entries: SentRecord[] }
  | { t: 'done'; stats: Record<string, unknown> }

/** Keeps the last `size` records. */
export class Ring {
  private readonly items: SentRecord[] = []
  constructor(private readonly size = 48) {}
  push(r: SentRecord): void {
    this.items.push(r)
    if (this.items.length > this.size) this.items.shift()
  }
  entries(): SentRecord[] {
    return [...this.items]
  }
}

/** Hex cut to a printable length (the full input is rebuilt from seed and index). */
export function shortHex(b: Buffer, max = 12_000): string {
  const h = b.toString('hex')
  return h.length <= max ? h : `${h.slice(0, max)}...(${b.length} octets)`
}

export function emit(ev: AttackerEvent): void {
  process.stdout.write(`${JSON.stringify(ev)}\n`)
}
