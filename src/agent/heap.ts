/**
 * V8 heap tuning for the long-running agent. By default V8 lets the old
 * generation grow to well over its live size before collecting; with a
 * million routes that slack is most of the peak RSS. Once the heap is large,
 * a 10% growing factor keeps the peak close to the live size (bench/bgp-ingest:
 * 1M prefixes, peak RSS 318 MB -> 280 MB) for a little more GC work. Small
 * heaps keep V8's default: there a tight factor would only mean many GCs.
 */
import { setFlagsFromString } from 'node:v8'

export const HEAP_GROWING_PERCENT = 10
/** heap used above which the tight factor applies, and below which it is lifted again */
const TIGHT_ABOVE = 48 << 20
const LOOSE_BELOW = 24 << 20

/** Starts the tuning for this process; returns a function that stops it. */
export function tuneHeapForAgent(percent = Number(process.env.FABRIC_HEAP_GROWING_PERCENT ?? HEAP_GROWING_PERCENT)): () => void {
  if (!Number.isInteger(percent) || percent <= 0 || percent > 1000) return () => {}
  let tight = false
  const check = (): void => {
    const used = process.memoryUsage().heapUsed
    if (!tight && used > TIGHT_ABOVE) {
      setFlagsFromString(`--heap-growing-percent=${percent}`)
      tight = true
    } else if (tight && used < LOOSE_BELOW) {
      setFlagsFromString('--heap-growing-percent=0')
      tight = false
    }
  }
  const timer = setInterval(check, 250)
  timer.unref()
  return () => clearInterval(timer)
}
