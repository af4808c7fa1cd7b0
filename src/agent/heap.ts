/**
 * V8 heap tuning for the long-running agent. By default V8 lets the old
 * generation grow to several times its live size before it collects again,
 * and it sets that limit at each full collection: a collection early in a
 * million-prefix ingest (a few tens of MB live) let the heap grow to ~185 MB
 * before the next one, though only ~20 MB stayed live (bench/bgp-ingest).
 * A 10% growing factor from the start keeps the heap close to its live
 * size. It used to apply only above 48 MB: with ~130 B of heap per prefix a
 * tight factor made a 100k ingest's full collections costly; now that the
 * route tables are typed arrays (net/prefix-table.ts) the live heap of a
 * million prefixes is ~20 MB and collections are cheap at any size.
 * FABRIC_HEAP_GROWING_PERCENT sets the factor (0: V8's default).
 *
 * The young generation keeps its initial 1 MB semi-spaces (V8 grows them to
 * 16 MB each under an ingest and keeps them): bench/bgp-ingest at 1M
 * prefixes, peak RSS 341-351 MB -> 257-300 MB, after GC 211-213 -> 193-200 MB,
 * ingest times unchanged. FABRIC_SMALL_YOUNG_GENERATION=0 turns it off.
 */
import { setFlagsFromString } from 'node:v8'

export const HEAP_GROWING_PERCENT = 10

/** Applies the tuning to this process; returns a function that undoes the growing factor. */
export function tuneHeapForAgent(percent = Number(process.env.FABRIC_HEAP_GROWING_PERCENT ?? HEAP_GROWING_PERCENT)): () => void {
  // the young generation keeps its initial 1 MB semi-spaces: V8 would grow them to 16 MB each
  // during an ingest and keep them (routes either die at once or live long; a big nursery buys little)
  if (process.env.FABRIC_SMALL_YOUNG_GENERATION !== '0') setFlagsFromString('--semi-space-growth-factor=1')
  if (!Number.isInteger(percent) || percent <= 0 || percent > 1000) return () => {}
  setFlagsFromString(`--heap-growing-percent=${percent}`)
  return () => setFlagsFromString('--heap-growing-percent=0')
}
