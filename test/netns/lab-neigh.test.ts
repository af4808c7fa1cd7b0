/**
 * The lab's neighbour-table limits (src/lab/neigh.ts) against a fake
 * /proc/sys/net/ipv4/neigh/default (FABRIC_LAB_NEIGH_PROC) and
 * /proc/sys/net/ipv6/neigh/default (FABRIC_LAB_NEIGH6_PROC) and a temporary
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
const proc6 = mkdtempSync(join(tmpdir(), 'fabric-neigh6-'))
const root = mkdtempSync(join(tmpdir(), 'fabric-labroot-'))
process.env.FABRIC_LAB_NEIGH_PROC = proc
process.env.FABRIC_LAB_NEIGH6_PROC = proc6
const neigh = await import('../../src/lab/neigh.js')
const { fabric } = await import('./helpers.js')

function setFake(t1: number, t2: number, t3: number, dir = proc): void {
  writeFileSync(join(dir, 'gc_thresh1'), `${t1}\n`)
  writeFileSync(join(dir, 'gc_thresh2'), `${t2}\n`)
  writeFileSync(join(dir, 'gc_thresh3'), `${t3}\n`)
}
const fake = (dir = proc) => ({ t1: Number(readFileSync(join(dir, 'gc_thresh1'), 'utf8')), t2: Number(readFileSync(join(dir, 'gc_thresh2'), 'utf8')), t3: Number(readFileSync(join(dir, 'gc_thresh3'), 'utf8')) })

test.after.always(() => {
  rmSync(proc, { recursive: true, force: true })
  rmSync(proc6, { recursive: true, force: true })
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

test.serial('a dual-stack lab raises the IPv6 table\'s limits too, records both families, and the last lab down puts both back', async (t) => {
  setFake(128, 512, 1024)
  setFake(128, 512, 1024, proc6)
  const req = neigh.neighRequired(100)
  const changed = await neigh.ensureNeigh(root, 'dual', 100, true, ['ipv4', 'ipv6'])
  t.deepEqual(changed.map((c) => `${neigh.sysctlName(c.key, c.family)}=${c.to}`).sort(), [
    `net.ipv4.neigh.default.gc_thresh1=${req.gc_thresh1}`, `net.ipv4.neigh.default.gc_thresh2=${req.gc_thresh2}`, `net.ipv4.neigh.default.gc_thresh3=${req.gc_thresh3}`,
    `net.ipv6.neigh.default.gc_thresh1=${req.gc_thresh1}`, `net.ipv6.neigh.default.gc_thresh2=${req.gc_thresh2}`, `net.ipv6.neigh.default.gc_thresh3=${req.gc_thresh3}`,
  ])
  t.deepEqual(fake(proc6), { t1: req.gc_thresh1, t2: req.gc_thresh2, t3: req.gc_thresh3 })
  t.deepEqual(neigh.readRecord(root)!.ipv6!.original, { gc_thresh1: 128, gc_thresh2: 512, gc_thresh3: 1024 })
  // an IPv4-only lab leaves the IPv6 table alone
  t.deepEqual(await neigh.ensureNeigh(root, 'v4', 50, true), [])
  const back = await neigh.releaseNeigh(root, 'dual', () => false)
  t.deepEqual(back.restored.map((r) => `${neigh.sysctlName(r.key, r.family)}=${r.to}`).sort(), [
    'net.ipv4.neigh.default.gc_thresh1=128', 'net.ipv4.neigh.default.gc_thresh2=512', 'net.ipv4.neigh.default.gc_thresh3=1024',
    'net.ipv6.neigh.default.gc_thresh1=128', 'net.ipv6.neigh.default.gc_thresh2=512', 'net.ipv6.neigh.default.gc_thresh3=1024',
  ])
  t.deepEqual(fake(proc6), { t1: 128, t2: 512, t3: 1024 })
  t.deepEqual(fake(), { t1: 128, t2: 512, t3: 1024 })
  t.is(neigh.readRecord(root), undefined)
})

test.serial('only the IPv6 table short (IPv4 already large): only IPv6 is raised and put back; a refusal names the IPv6 sysctls', async (t) => {
  setFake(50_000, 60_000, 100_000)
  setFake(128, 512, 1024, proc6)
  const e = await t.throwsAsync(neigh.ensureNeigh(root, 'x6', 100, false, ['ipv4', 'ipv6']), { instanceOf: neigh.NeighLimitError })
  t.regex(e!.message, /needs net\.ipv6\.neigh\.default\.gc_thresh1=\d+ \(now 128\), net\.ipv6\.neigh\.default\.gc_thresh2=\d+ \(now 512\), net\.ipv6\.neigh\.default\.gc_thresh3=\d+ \(now 1024\)/)
  t.notRegex(e!.message, /ipv4/)
  t.deepEqual(fake(proc6), { t1: 128, t2: 512, t3: 1024 }, 'nothing written')
  const changed = await neigh.ensureNeigh(root, 'x6', 100, true, ['ipv4', 'ipv6'])
  t.deepEqual([...new Set(changed.map((c) => c.family))], ['ipv6'])
  const rec = neigh.readRecord(root)!
  t.is(rec.original, undefined, 'no IPv4 values recorded')
  t.truthy(rec.ipv6)
  const back = await neigh.releaseNeigh(root, 'x6', () => false)
  t.deepEqual([...new Set(back.restored.map((r) => r.family))], ['ipv6'])
  t.deepEqual(fake(proc6), { t1: 128, t2: 512, t3: 1024 })
  t.deepEqual(fake(), { t1: 50_000, t2: 60_000, t3: 100_000 })
})

test.serial('fabric lab up --ipv6 --no-sysctl refuses when the IPv6 table is too small, before creating anything', async (t) => {
  setFake(50_000, 60_000, 100_000)
  setFake(128, 512, 1024, proc6)
  const name = `nx${process.pid % 100000}`
  const r = await fabric(['lab', 'up', '--name', name, '--hosts', '60', '--ipv6', '--no-sysctl'], undefined, { FABRIC_LAB_NEIGH_PROC: proc, FABRIC_LAB_NEIGH6_PROC: proc6, FABRIC_LAB_ROOT: root })
  t.is(r.code, 1)
  t.regex(r.stderr, /fabric lab up: the kernel's neighbour table is too small for a lab of 60 hosts: it needs net\.ipv6\.neigh\.default\.gc_thresh1=\d+ \(now 128\)/)
  const ns = await (await import('../../src/lab/sh.js')).run('ip', ['netns', 'list'])
  t.false(ns.stdout.includes(`${name}-`))
  t.deepEqual(fake(proc6), { t1: 128, t2: 512, t3: 1024 })
})
