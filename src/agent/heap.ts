/**
 * V8 heap tuning for the long-running agent. By default V8 lets the old
 * generation grow to well over its live size before collecting; with a
 * million routes that slack is most of the peak RSS. Once the heap is large,
 * a 10% growing factor keeps the peak close to the live size (bench/bgp-ingest:
 * 1M prefixes, peak RSS 318 MB -> 280 MB) for a little more GC work. Small
 * heaps keep V8's default: there a tight factor would only mean many GCs.
 *
 * The young generation keeps its initial 1 MB semi-spaces (V8 grows them to
 * 16 MB each under an ingest and keeps them): bench/bgp-ingest at 1M
 * prefixes, peak RSS 341-351 MB -> 257-300 MB, after GC 211-213 -> 193-200 MB,
 * ingest times unchanged. FABRIC_SMALL_YOUNG_GENERATION=0 turns it off.
 */
import { PerformanceObserver } from 'node:perf_hooks'
import { getHeapStatistics, setFlagsFromString } from 'node:v8'

export const HEAP_GROWING_PERCENT = 10
/** heap used above which the tight factor applies, and below which it is lifted again */
const TIGHT_ABOVE = 48 << 20
const LOOSE_BELOW = 24 << 20
/** heap growth between two checks that counts as busy */
const GROWING_BYTES = 4 << 20
const BUSY_CHECK_MS = 250
/** without garbage collection events (no PerformanceObserver): the idle period */
const IDLE_CHECK_MS = 2000

/** Starts the tuning for this process; returns a function that stops it. */
export function tuneHeapForAgent(percent = Number(process.env.FABRIC_HEAP_GROWING_PERCENT ?? HEAP_GROWING_PERCENT), onCheck?: (usedBytes: number) => void): () => void {
  // the young generation keeps its initial 1 MB semi-spaces: V8 would grow them to 16 MB each
  // during an ingest and keep them (routes either die at once or live long; a big nursery buys little)
  if (process.env.FABRIC_SMALL_YOUNG_GENERATION !== '0') setFlagsFromString('--semi-space-growth-factor=1')
  if (!Number.isInteger(percent) || percent <= 0 || percent > 1000) return () => {}
  let tight = false
  let last = 0
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  let observer: PerformanceObserver | undefined
  const check = (): void => {
    timer = undefined
    // V8's own figure: process.memoryUsage() would also read /proc/self/stat for the RSS, every check
    const used = getHeapStatistics().used_heap_size
    onCheck?.(used)
    if (!tight && used > TIGHT_ABOVE) {
      setFlagsFromString(`--heap-growing-percent=${percent}`)
      tight = true
    } else if (tight && used < LOOSE_BELOW) {
      setFlagsFromString('--heap-growing-percent=0')
      tight = false
    }
    // while the heap is large or growing (an ingest) look often; else at the next garbage collection
    // (the factor only matters when V8 sizes the heap after one, and a heap only grows by allocating,
    // which brings collections): an idle agent is not woken for this at all
    const busy = used > LOOSE_BELOW || used - last > GROWING_BYTES
    last = used
    if (!stopped && (busy || observer === undefined)) {
      timer = setTimeout(check, busy ? BUSY_CHECK_MS : IDLE_CHECK_MS)
      timer.unref()
    }
  }
  try {
    observer = new PerformanceObserver(() => {
      if (!stopped && timer === undefined) check()
    })
    observer.observe({ entryTypes: ['gc'] })
  } catch {
    observer = undefined
  }
  check()
  return () => {
    stopped = true
    clearTimeout(timer)
    observer?.disconnect()
  }
}
