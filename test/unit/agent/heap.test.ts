/**
 * The agent's V8 heap tuning (agent/heap.ts): the young generation keeps its
 * initial size (bench/bgp-ingest: peak RSS at 1M prefixes ~350 -> ~280 MB).
 * Measured in a fresh process, whose new space starts small.
 */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import test from 'ava'

const HEAP = fileURLToPath(new URL('../../../src/agent/heap.ts', import.meta.url))

/** new space size (MB) before and after allocating ~100 MB of short- and medium-lived objects, with or without the tuning */
function newSpaceAroundChurn(tune: boolean): [number, number] {
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8'
    import { tuneHeapForAgent } from ${JSON.stringify(HEAP)}
    if (${tune}) tuneHeapForAgent()()
    const size = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1048576
    const before = size()
    let keep = []
    for (let i = 0; i < 2e6; i++) { const o = { a: i, b: [i, i] }; if (i % 4 === 0) keep.push(o); if (keep.length > 100000) keep = [] }
    process.stdout.write(JSON.stringify([before, size()]))
  `
  return JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, FABRIC_SMALL_YOUNG_GENERATION: '' } }))
}

test('tuneHeapForAgent keeps the young generation at its initial size; V8 alone grows it', (t) => {
  const tuned = newSpaceAroundChurn(true)
  const untuned = newSpaceAroundChurn(false)
  t.true(tuned[1] <= tuned[0], `tuned: new space ${tuned[0]} -> ${tuned[1]} MB`)
  t.true(untuned[1] > untuned[0], `untuned: new space ${untuned[0]} -> ${untuned[1]} MB (the check can fail)`)
})

test('the heap check does not wake an idle process; allocation (garbage collections) brings checks', (t) => {
  const script = `
    import { tuneHeapForAgent } from ${JSON.stringify(HEAP)}
    let checks = 0
    const stop = tuneHeapForAgent(10, () => { checks++ })
    // start-up (module loading) may still collect: the idle window starts after it
    await new Promise((r) => setTimeout(r, 500))
    const settled = checks
    await new Promise((r) => setTimeout(r, 2500))
    const idle = checks - settled
    let keep = []
    for (let i = 0; i < 3e6; i++) { keep.push({ a: i, b: [i] }); if (keep.length > 200000) keep = [] }
    await new Promise((r) => setTimeout(r, 100))
    stop()
    process.stdout.write(JSON.stringify({ idle, busy: checks - idle }))
  `
  const r = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' })) as { idle: number; busy: number }
  t.is(r.idle, 0, 'no check in 2.5 s of idleness')
  t.true(r.busy >= 1, `${r.busy} checks while allocating`)
})
