/**
 * `lab status` warns when the kernel's neighbour table is smaller than the
 * lab needs (every container pinging every other: N² entries), read from a
 * fake /proc/sys/net/ipv4/neigh/default (FABRIC_LAB_NEIGH_PROC): nothing of
 * the machine is read.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { LabHost, LabSpec } from '../../../src/lab/lab.js'

const proc = mkdtempSync(join(tmpdir(), 'fabric-neighw-'))
process.env.FABRIC_LAB_NEIGH_PROC = proc
const { neighWarning } = await import('../../../src/lab/report.js')

test.after.always(() => rmSync(proc, { recursive: true, force: true }))

function setFake(t3: number): void {
  writeFileSync(join(proc, 'gc_thresh1'), '128\n')
  writeFileSync(join(proc, 'gc_thresh2'), '512\n')
  writeFileSync(join(proc, 'gc_thresh3'), `${t3}\n`)
}

function lab(n: number, dedicatedReflectors = 0): LabSpec {
  const hosts = Array.from({ length: n }, (_, k) => ({ name: `node${k + 1}` }) as LabHost)
  const reflectors = Array.from({ length: dedicatedReflectors }, (_, k) => ({ index: k + 1, engine: 'bird' as const, ns: `t-r${k + 1}`, address: `10.99.0.${2 + k}`, dir: '' }))
  return { name: 't', mode: 'bgp', hosts, topology: 'rr', reflectors, pool: '', underlay: '', config: '', created: '', joinArgs: [], iniExtra: [] }
}

test.serial('a table smaller than N² + 4N + 256 entries: a warning naming the sysctl, its value and the entries needed', (t) => {
  setFake(6144)
  t.is(neighWarning(lab(200)), 'net.ipv4.neigh.default.gc_thresh3 is 6144, below the 41056 neighbour entries a lab of 200 hosts needs when every container pings every other; pings fail once the table is full (`fabric lab up` raises it; something lowered it since)')
  // BIRD / FRR reflectors in namespaces of their own are underlay addresses too
  t.regex(neighWarning(lab(200, 2)) ?? '', /below the 41868 neighbour entries a lab of 202 hosts/)
})

test.serial('a table large enough: no warning; an unreadable table: no warning (nothing to say)', (t) => {
  setFake(82944)
  t.is(neighWarning(lab(200)), undefined)
  setFake(1024)
  t.is(neighWarning(lab(10)), undefined)
  rmSync(join(proc, 'gc_thresh3'))
  t.is(neighWarning(lab(200)), undefined)
})
