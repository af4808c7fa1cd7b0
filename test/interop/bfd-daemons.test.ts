/**
 * BFD interop with real daemons in a namespace: BIRD 2 (`protocol bfd` with a
 * neighbor) and FRR 8 bfdd (`bfd` / `peer X`). fabric's BfdService runs in
 * the other namespace (test/netns/bfd-peer.ts). Both sides must reach Up,
 * and each must detect the other's death (SIGKILL) in < 1 s; the figures are
 * printed.
 */
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test, { type ExecutionContext } from 'ava'
import { BfdPeer, vethPair } from '../netns/bfd-driver.js'
import { run, waitFor } from '../netns/helpers.js'

interface Daemon {
  /** the daemon's own view of the session, for the log */
  show(): Promise<string>
  /** 'up' | 'down' | ... of the session with 10.213.0.1, or undefined */
  state(): Promise<string | undefined>
  kill(): Promise<void>
  log(): string
}

function killPid(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return
  try {
    process.kill(pid, sig)
  } catch {
    // gone already
  }
}

function pidOf(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim())
    return n > 0 ? n : undefined
  } catch {
    return undefined
  }
}

async function startBird(t: ExecutionContext, ns: string): Promise<Daemon> {
  const dir = join(tmpdir(), `${ns}-bird`)
  mkdirSync(dir, { recursive: true })
  const conf = join(dir, 'bird.conf')
  const sock = join(dir, 'bird.ctl')
  const pidFile = join(dir, 'bird.pid')
  writeFileSync(conf, [
    'router id 10.213.0.2;',
    `log "${join(dir, 'bird.log')}" all;`,
    'protocol device { }',
    'protocol bfd {',
    '  interface "*" { min rx interval 100 ms; min tx interval 100 ms; idle tx interval 1000 ms; multiplier 3; };',
    '  neighbor 10.213.0.1 local 10.213.0.2;',
    '}',
    '',
  ].join('\n'))
  t.teardown(() => {
    killPid(pidOf(pidFile), 'SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })
  const r = await run('ip', ['netns', 'exec', ns, 'bird', '-c', conf, '-s', sock, '-P', pidFile])
  if (r.code !== 0) throw new Error(`bird: ${r.stderr}${r.stdout}`)
  return {
    show: async () => (await run('ip', ['netns', 'exec', ns, 'birdc', '-s', sock, 'show', 'bfd', 'sessions'])).stdout,
    async state() {
      const out = (await run('ip', ['netns', 'exec', ns, 'birdc', '-s', sock, 'show', 'bfd', 'sessions'])).stdout
      const line = out.split('\n').find((l) => l.trim().startsWith('10.213.0.1'))
      return line?.trim().split(/\s+/)[2]?.toLowerCase()
    },
    async kill() {
      killPid(pidOf(pidFile), 'SIGKILL')
    },
    log: () => (existsSync(join(dir, 'bird.log')) ? readFileSync(join(dir, 'bird.log'), 'utf8') : ''),
  }
}

async function startFrr(t: ExecutionContext, ns: string): Promise<Daemon> {
  const dir = `/var/run/frr/${ns}`
  mkdirSync(dir, { recursive: true })
  const conf = join(dir, 'frr.conf')
  const pidFile = join(dir, 'bfdd.pid')
  writeFileSync(conf, [
    'frr defaults traditional',
    `log file ${join(dir, 'frr.log')}`,
    'bfd',
    ' peer 10.213.0.1 local-address 10.213.0.2',
    '  receive-interval 100',
    '  transmit-interval 100',
    '  detect-multiplier 3',
    ' !',
    '!',
    '',
  ].join('\n'))
  writeFileSync(join(dir, 'vtysh.conf'), '')
  const uid = Number((await run('id', ['-u', 'frr'])).stdout.trim())
  const gid = Number((await run('id', ['-g', 'frr'])).stdout.trim())
  for (const f of [dir, conf, join(dir, 'vtysh.conf')]) chownSync(f, uid, gid)
  t.teardown(() => {
    killPid(pidOf(pidFile), 'SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })
  const r = await run('ip', ['netns', 'exec', ns, '/usr/lib/frr/bfdd', '-N', ns, '-d', '-f', conf, '-i', pidFile])
  if (r.code !== 0) throw new Error(`bfdd: ${r.stderr}${r.stdout}`)
  return {
    show: async () => (await run('ip', ['netns', 'exec', ns, 'vtysh', '-N', ns, '-c', 'show bfd peers'])).stdout,
    async state() {
      const out = (await run('ip', ['netns', 'exec', ns, 'vtysh', '-N', ns, '-c', 'show bfd peers json'])).stdout
      try {
        const peers = JSON.parse(out) as { peer: string; status: string }[]
        return peers.find((p) => p.peer === '10.213.0.1')?.status
      } catch {
        return undefined
      }
    },
    async kill() {
      killPid(pidOf(pidFile), 'SIGKILL')
    },
    log: () => (existsSync(join(dir, 'frr.log')) ? readFileSync(join(dir, 'frr.log'), 'utf8') : ''),
  }
}

const daemons = {
  bird: { available: existsSync('/usr/sbin/bird'), start: startBird },
  frr: { available: existsSync('/usr/lib/frr/bfdd'), start: startFrr },
}

for (const [name, d] of Object.entries(daemons)) {
  const maybe = d.available ? test : test.skip
  maybe(`${name}: reaches Up with fabric; each side detects the other's death in < 1 s`, async (t) => {
    // fabric dies: the daemon must notice
    {
      const { nsA, nsB } = await vethPair(t)
      const daemon = await d.start(t, nsB)
      const fabric = new BfdPeer(nsA)
      t.teardown(() => fabric.close())
      await fabric.ready
      await fabric.add({ key: name, local: '10.213.0.1', remote: '10.213.0.2' })
      t.truthy(await fabric.waitState(name, 'Up', 10_000), `fabric never Up: ${daemon.log()}`)
      t.truthy(await waitFor(async () => ((await daemon.state()) === 'up' ? true : undefined), 5000, 50), `${name} never up`)
      // let the Poll Sequences switch both sides to 100 ms
      t.truthy(await waitFor(async () => ((await fabric.status()).sessions[0]?.detectionTime === 300 ? true : undefined), 5000, 50), JSON.stringify(await fabric.status()))
      // and the daemon's own Poll Sequence (its tx 1 s -> 100 ms) settle
      await new Promise((r) => setTimeout(r, 1500))
      t.log(await daemon.show())
      const killedAt = Date.now()
      fabric.child.kill('SIGKILL')
      const seen = await waitFor(async () => ((await daemon.state()) !== 'up' ? Date.now() : undefined), 5000, 20)
      t.truthy(seen, `${name} never noticed fabric's death`)
      t.log(`${name} detected fabric's death in ${seen! - killedAt} ms (polled every 20 ms + CLI time)`)
      t.true(seen! - killedAt < 1000)
    }
    // the daemon dies: fabric must notice
    {
      const { nsA, nsB } = await vethPair(t)
      const daemon = await d.start(t, nsB)
      const fabric = new BfdPeer(nsA)
      t.teardown(() => fabric.close())
      await fabric.ready
      await fabric.add({ key: name, local: '10.213.0.1', remote: '10.213.0.2' })
      t.truthy(await fabric.waitState(name, 'Up', 10_000))
      t.truthy(await waitFor(async () => ((await fabric.status()).sessions[0]?.detectionTime === 300 ? true : undefined), 5000, 50))
      await new Promise((r) => setTimeout(r, 500))
      const mark = fabric.events.length
      const killedAt = Date.now()
      await daemon.kill()
      const down = await fabric.waitState(name, 'Down', 5000, mark)
      t.truthy(down, 'fabric never noticed')
      t.log(`fabric detected ${name}'s death in ${down!.at - killedAt} ms, diag ${down!.diag}`)
      t.is(down!.diag, 1)
      t.true(down!.at - killedAt < 1000)
    }
  })
}
