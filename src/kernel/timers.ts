/**
 * The clock and timers FIB sync runs on, injected so tests drive time by
 * hand (MQTT.js's timer interface, BIRD's timer hooks). Callbacks must not
 * throw; the users wrap theirs.
 */
export interface Timer {
  cancel(): void
}

export interface Timers {
  /** milliseconds since the Unix epoch */
  now(): number
  /** runs `fn` once after `ms` */
  after(ms: number, fn: () => void): Timer
  /** runs `fn` every `ms` until cancelled */
  every(ms: number, fn: () => void): Timer
}

/** Node's timers; none of them keeps the process alive. */
export const systemTimers: Timers = {
  now: () => Date.now(),
  after(ms, fn) {
    const t = setTimeout(fn, ms)
    t.unref()
    return { cancel: () => clearTimeout(t) }
  },
  every(ms, fn) {
    const t = setInterval(fn, ms)
    t.unref()
    return { cancel: () => clearInterval(t) }
  },
}
