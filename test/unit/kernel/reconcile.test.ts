import test from 'ava'
import { planReconcile } from '../../../src/kernel/reconcile.js'
import type { DesiredRoute, KernelRoute } from '../../../src/kernel/types.js'
import { formatPrefix, } from '../../../src/net/ipv4.js'
import { P, A } from '../../helpers/net.js'

const PROTO = 233
const opts = { protocol: PROTO, table: 254, allowDeletes: true }

const want = (p: string, nh: string, metric = 0): DesiredRoute => ({ prefix: P(p), nextHop: A(nh), metric, peer: `peer-${p}` })
const kr = (p: string, gw: string | undefined, protocol = PROTO, metric = 0, table = 254): KernelRoute => ({
  prefix: P(p), table, protocol, metric, type: 1, scope: 0, gateway: gw ? A(gw) : undefined,
})

const summary = (ops: ReturnType<typeof planReconcile>['ops']) => ops.map((o) => `${o.op} ${formatPrefix(o.route.prefix)}`)

test('adds missing, keeps correct, replaces wrong next hop, deletes stale', (t) => {
  const desired = ([want('10.244.1.0/24', '10.0.0.1'), want('10.244.2.0/24', '10.0.0.2'), want('10.244.3.0/24', '10.0.0.3')])
  const kernel = [kr('10.244.2.0/24', '10.0.0.2'), kr('10.244.3.0/24', '10.0.0.9'), kr('10.244.4.0/24', '10.0.0.4')]
  const plan = planReconcile(desired, kernel, opts)
  t.deepEqual(summary(plan.ops), ['delete 10.244.4.0/24', 'add 10.244.1.0/24', 'replace 10.244.3.0/24'])
  t.is(plan.unchanged, 1)
  t.deepEqual(plan.conflicts, [])
})

test('routes of other protocols are never touched; a held prefix is a conflict', (t) => {
  const desired = ([want('10.244.2.0/24', '10.0.0.2')])
  const kernel = [kr('10.244.2.0/24', '10.0.0.77', 4 /* static */), kr('10.244.9.0/24', '10.0.0.9', 12 /* bird */), kr('0.0.0.0/0', '10.0.0.254', 3)]
  const plan = planReconcile(desired, kernel, opts)
  t.deepEqual(plan.ops, [])
  t.is(plan.conflicts.length, 1)
  t.is(plan.conflicts[0]!.foreign.protocol, 4)
})

test('a foreign route with another metric still counts as a conflict', (t) => {
  const plan = planReconcile(([want('10.244.2.0/24', '10.0.0.2')]), [kr('10.244.2.0/24', '10.0.0.2', 4, 100)], opts)
  t.is(plan.conflicts.length, 1)
  t.deepEqual(plan.ops, [])
})

test('routes in other tables are ignored', (t) => {
  const plan = planReconcile([], [kr('10.244.2.0/24', '10.0.0.2', PROTO, 0, 100)], opts)
  t.deepEqual(plan.ops, [])
})

test('startup grace: stale routes are kept and counted, not deleted', (t) => {
  const plan = planReconcile([], [kr('10.244.2.0/24', '10.0.0.2'), kr('10.244.3.0/24', '10.0.0.3')], { ...opts, allowDeletes: false })
  t.deepEqual(plan.ops, [])
  t.is(plan.keptStale, 2)
})

test('adopting an identical table plans nothing (restart does not flap)', (t) => {
  const desired = ([want('10.244.1.0/24', '10.0.0.1'), want('10.244.2.0/24', '10.0.0.2')])
  const plan = planReconcile(desired, [kr('10.244.1.0/24', '10.0.0.1'), kr('10.244.2.0/24', '10.0.0.2')], opts)
  t.deepEqual(plan.ops, [])
  t.is(plan.unchanged, 2)
})

test('a metric change adds the new route before deleting the old one', (t) => {
  const plan = planReconcile(([want('10.244.1.0/24', '10.0.0.1', 5)]), [kr('10.244.1.0/24', '10.0.0.1', PROTO, 0)], opts)
  t.deepEqual(summary(plan.ops), ['add 10.244.1.0/24', 'delete 10.244.1.0/24'])
  t.is(plan.ops[1]!.op === 'delete' && plan.ops[1]!.route.metric, 0)
})

test('duplicate routes of ours on one prefix are reduced to one', (t) => {
  const plan = planReconcile(([want('10.244.1.0/24', '10.0.0.1')]), [kr('10.244.1.0/24', '10.0.0.1'), kr('10.244.1.0/24', '10.0.0.5', PROTO, 10)], opts)
  t.deepEqual(summary(plan.ops), ['delete 10.244.1.0/24'])
  t.is(plan.unchanged, 1)
})

test('the order in which kernel routes stream in does not change the plan', (t) => {
  const desired = [want('10.244.1.0/24', '10.0.0.1'), want('10.244.2.0/24', '10.0.0.2')]
  const kernel = [kr('10.244.1.0/24', '10.0.0.9', PROTO, 5), kr('10.244.1.0/24', '10.0.0.1'), kr('10.244.2.0/24', '10.0.0.2'), kr('10.244.2.0/24', '10.0.0.7', 4)]
  const a = planReconcile(desired, kernel, opts)
  const b = planReconcile(desired, [...kernel].reverse(), opts)
  for (const plan of [a, b]) {
    t.deepEqual(summary(plan.ops), ['delete 10.244.1.0/24'], 'the duplicate of ours goes, the exact one stays')
    t.is(plan.unchanged, 1)
    t.deepEqual(plan.conflicts.map((c) => formatPrefix(c.desired.prefix)), ['10.244.2.0/24'], 'our route under a foreign one is left alone')
  }
})
