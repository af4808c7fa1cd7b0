/**
 * The lab's neighbour-table limits (src/lab/neigh.ts) against a fake
 * /proc/sys/net/ipv4/neigh/default (FABRIC_LAB_NEIGH_PROC) and a temporary
 * LAB_ROOT: raised for a lab that needs more, recorded, held while any lab
 * needs them, put back by the last `lab down` (also after a crash lost the
 * lab's files), and refused with the sysctl and value named under --no-sysctl.
 * Nothing of the real machine is read or changed.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'

const proc = mkdtempSync(join(tmpdir(), 'fabric-neigh-'))
const root = mkdtempSync(join(tmpdir(), 'fabric-labroot-'))
process.env.FABRIC_LAB_NEIGH_PROC = proc
const neigh = await import('../../src/lab/neigh.js')
const { fabric } = await import('./helpers.js')

function setFake(t1: number, t2: number, t3: number): void {
  writeFileSync(join(proc, 'gc_thresh1'), `${t1}\n`)
  writeFileSync(join(proc, 'gc_thresh2'), `${t2}\n`)
  writeFileSync(join(proc, 'gc_thresh3'), `${t3}\n`)
}
const fake = () => ({ t1: Number(readFileSync(join(proc, 'gc_thresh1'), 'utf8')), t2: Number(readFileSync(join(proc, 'gc_thresh2'), 'utf8')), t3: Number(readFileSync(join(proc, 'gc_thresh3'), 'utf8')) })

test.after.always(() => {
  rmSync(proc, { recursive: true, force: true })
  rmSync(root, { recursive: true, force: true })
})

test.serial('a small lab changes nothing; a 100-host lab raises the limits, records the old ones, the last lab down restores them', async (t) => {
  setFake(128, 512, 1024)
  t.deepEqual(await neigh.ensureNeigh(root, 'small', 5, true), [])
  t.is(neigh.readRecord(root), undefined)
  const req = neigh.neighRequired(100)
  t.true(req.gc_thresh3 >= neigh.neighEntriesFor(100) && neigh.neighEntriesFor(100) >= 100 * 100)
  const changed = await neigh.ensureNeigh(root, 'big', 100, true)
  t.deepEqual(changed.map((c) => c.key).sort(), ['gc_thresh1', 'gc_thresh2', 'gc_thresh3'])
  t.deepEqual(fake(), { t1: req.gc_thresh1, t2: req.gc_thresh2, t3: req.gc_thresh3 })
  t.deepEqual(neigh.readRecord(root)!.original, { gc_thresh1: 128, gc_thresh2: 512, gc_thresh3: 1024 })
  // a second lab that fits in the raised limits holds on to them
  t.deepEqual(await neigh.ensureNeigh(root, 'other', 50, true), [])
  t.deepEqual(Object.keys(neigh.readRecord(root)!.labs).sort(), ['big', 'other'])
  t.deepEqual((await neigh.releaseNeigh(root, 'big', (n) => n === 'other')).restored, [])
  t.is(fake().t3, req.gc_thresh3, 'still raised while "other" runs')
  const back = await neigh.releaseNeigh(root, 'other', () => false)
  t.deepEqual(back.restored.map((r) => `${neigh.sysctlName(r.key)}=${r.to}`).sort(), [
    'net.ipv4.neigh.default.gc_thresh1=128', 'net.ipv4.neigh.default.gc_thresh2=512', 'net.ipv4.neigh.default.gc_thresh3=1024'])
  t.deepEqual(fake(), { t1: 128, t2: 512, t3: 1024 })
  t.is(neigh.readRecord(root), undefined)
})

test.serial('after a crash the record survives; releasing prunes labs that no longer exist; a value changed meanwhile by someone else is left alone', async (t) => {
  setFake(128, 512, 1024)
  await neigh.ensureNeigh(root, 'crashed', 200, true)
  await neigh.ensureNeigh(root, 'gone', 150, true)
  writeFileSync(join(proc, 'gc_thresh1'), '7777\n') // an operator's own change
  const r = await neigh.releaseNeigh(root, 'crashed', () => false)
  t.deepEqual(r.restored.map((x) => x.key).sort(), ['gc_thresh2', 'gc_thresh3'])
  t.deepEqual(fake(), { t1: 7777, t2: 512, t3: 1024 })
})

test.serial('refusal names each sysctl and the value it needs; limits that already suffice are accepted', async (t) => {
  setFake(128, 512, 1024)
  const e = await t.throwsAsync(neigh.ensureNeigh(root, 'x', 100, false), { instanceOf: neigh.NeighLimitError })
  const req = neigh.neighRequired(100)
  t.true(e!.message.includes(`net.ipv4.neigh.default.gc_thresh3=${req.gc_thresh3} (now 1024)`), e!.message)
  t.true(e!.message.includes('--no-sysctl'), e!.message)
  t.deepEqual(fake(), { t1: 128, t2: 512, t3: 1024 }, 'nothing written')
  setFake(50_000, 60_000, 100_000)
  t.deepEqual(await neigh.ensureNeigh(root, 'x', 100, false), [])
})

test.serial('fabric lab up --no-sysctl refuses before creating anything and exits 1', async (t) => {
  setFake(128, 512, 1024)
  const name = `ns${process.pid % 100000}`
  const r = await fabric(['lab', 'up', '--name', name, '--hosts', '60', '--mode', 'bgp', '--no-sysctl'], undefined, { FABRIC_LAB_NEIGH_PROC: proc, FABRIC_LAB_ROOT: root })
  t.is(r.code, 1)
  t.regex(r.stderr, /fabric lab up: the kernel's neighbour table is too small for a lab of 60 hosts: it needs net\.ipv4\.neigh\.default\.gc_thresh1=\d+ \(now 128\), net\.ipv4\.neigh\.default\.gc_thresh2=\d+ \(now 512\), net\.ipv4\.neigh\.default\.gc_thresh3=\d+ \(now 1024\)/)
  const ns = await (await import('../../src/lab/sh.js')).run('ip', ['netns', 'list'])
  t.false(ns.stdout.includes(`${name}-`))
  t.deepEqual(fake(), { t1: 128, t2: 512, t3: 1024 })
})
