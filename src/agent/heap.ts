/**
 * V8 heap tuning for the long-running agent. By default V8 lets the old
 * generation grow to well over its live size before collecting; with a
 * million routes that slack is most of the peak RSS. A 10% growing factor
 * keeps the peak close to the live size (bench/bgp-ingest: 1M prefixes,
 * peak RSS 318 MB -> 280 MB) for a little more GC work.
 */
import { setFlagsFromString } from 'node:v8'

export const HEAP_GROWING_PERCENT = 10

export function tuneHeapForAgent(percent = Number(process.env.FABRIC_HEAP_GROWING_PERCENT ?? HEAP_GROWING_PERCENT)): void {
  if (Number.isInteger(percent) && percent > 0 && percent <= 1000) setFlagsFromString(`--heap-growing-percent=${percent}`)
}
