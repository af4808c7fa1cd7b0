/**
 * A lab of Docker hosts for the Docker test: network namespaces on an
 * underlay bridge, one real dockerd per host started inside its namespace
 * with nsenter (ip netns exec hides the cgroup mounts), each with its own
 * data-root, exec-root, socket, pid file, config file and cgroup parent, so
 * nothing touches /var/lib/docker, /var/run/docker.sock or the root
 * namespace's firewall. Everything carries the run's prefix and is removed by
 * down(), also after a failure.
 *
 *   PREFIX-sw     the underlay switch (bridge br0)
 *   PREFIX-hI     host I: eth0 10.99.0.(10+I)/24, its dockerd, the fabric agent container
 *   PREFIX-inet   "the internet": 10.99.0.100/24 on the underlay, no route to the pool
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { must, run, sleep, waitFor } from '../../src/lab/sh.js'

export { must, run, sleep, waitFor }

export const DOCKER = '/usr/bin/docker'
export const INET_ADDRESS = '10.99.0.100'

export interface DHost {
  index: number
  name: string
  ns: string
  address: string
  subnet: string
  gateway: string
  /** the bip docker0 has before fabric runs (outside the pool) */
  initialBip: string
  dir: string
  sock: string
  pidfile: string
  etcDocker: string
  daemonJson: string
  state: string
  run: string
  log: string
  cgroup: string
}

export class DockerLab {
  readonly root: string
  readonly hosts: DHost[]
  readonly sw: string
  readonly inet: string
  private readonly daemons = new Map<number, ChildProcess>()
  private stopping = new Set<number>()
  readonly starts = new Map<number, number>()

  constructor(readonly prefix: string, count: number, base = process.env.FABRIC_DOCKER_TEST_ROOT ?? '/var/lib/fabric-dtest') {
    this.root = join(base, prefix)
    this.sw = `${prefix}-sw`
    this.inet = `${prefix}-inet`
    this.hosts = Array.from({ length: count }, (_, k) => {
      const i = k + 1
      const dir = join(this.root, `h${i}`)
      return {
        index: i, name: `node${i}`, ns: `${prefix}-h${i}`, address: `10.99.0.${10 + i}`, subnet: `10.244.${i}.0/24`, gateway: `10.244.${i}.1`,
        initialBip: `172.30.${i}.1/24`, dir, sock: join(dir, 'docker.sock'), pidfile: join(dir, 'docker.pid'), etcDocker: join(dir, 'etc-docker'),
        daemonJson: join(dir, 'etc-docker', 'daemon.json'), state: join(dir, 'state'), run: join(dir, 'run'), log: join(dir, 'dockerd.log'),
        cgroup: `${prefix}-h${i}`,
      }
    })
  }

  get iniFile(): string {
    return join(this.root, 'fabric.ini')
  }

  /** Namespaces, links, addresses, directories, fabric.ini. */
  async up(): Promise<void> {
    mkdirSync(this.root, { recursive: true, mode: 0o700 })
    await must('ip', ['netns', 'add', this.sw])
    await must('ip', ['netns', 'add', this.inet])
    const create = [`link add eth0 netns ${this.inet} type veth peer name inet netns ${this.sw}`]
    for (const h of this.hosts) {
      await must('ip', ['netns', 'add', h.ns])
      create.push(`link add eth0 netns ${h.ns} type veth peer name h${h.index} netns ${this.sw}`)
      for (const d of [h.dir, h.etcDocker, h.state, h.run]) mkdirSync(d, { recursive: true })
    }
    await must('ip', ['-batch', '-'], `${create.join('\n')}\n`)
    await must('ip', ['-n', this.sw, '-batch', '-'], `${['link set lo up', 'link add br0 type bridge', 'link set br0 up', 'link set inet master br0 up', ...this.hosts.map((h) => `link set h${h.index} master br0 up`)].join('\n')}\n`)
    await must('ip', ['-n', this.inet, '-batch', '-'], `link set lo up\naddr add ${INET_ADDRESS}/24 dev eth0\nlink set eth0 up\n`)
    for (const h of this.hosts) await must('ip', ['-n', h.ns, '-batch', '-'], `link set lo up\naddr add ${h.address}/24 dev eth0\nlink set eth0 up\n`)
    const ini = ['[fabric]', 'pool = 10.244.0.0/16', 'host-prefix = 24', 'mode = static', 'route-protocol = fabric', 'reconcile-interval = 2']
    for (const h of this.hosts) ini.push('', `[host.${h.name}]`, `address = ${h.address}`, `subnet = ${h.subnet}`)
    writeFileSync(this.iniFile, `${ini.join('\n')}\n`)
  }

  /** Starts host I's dockerd in its namespace, restarted whenever it exits (like systemd's Restart=always). */
  startDockerd(h: DHost): void {
    this.stopping.delete(h.index)
    const spawnOnce = (): void => {
      if (this.stopping.has(h.index)) return
      const out = openSync(h.log, 'a')
      const child = spawn('nsenter', [
        `--net=/run/netns/${h.ns}`, '--', 'dockerd',
        '--data-root', join(h.dir, 'data'), '--exec-root', join(h.dir, 'exec'), '-H', `unix://${h.sock}`,
        '--pidfile', h.pidfile, '--config-file', h.daemonJson, '--storage-driver', 'overlay2',
        '--cgroup-parent', `/${h.cgroup}`, '--userland-proxy=false',
      ], { stdio: ['ignore', out, out], env: { ...process.env, DOCKER_TMPDIR: join(h.dir, 'tmp') } })
      this.daemons.set(h.index, child)
      this.starts.set(h.index, (this.starts.get(h.index) ?? 0) + 1)
      child.on('exit', () => {
        if (this.daemons.get(h.index) === child) this.daemons.delete(h.index)
        if (!this.stopping.has(h.index)) setTimeout(spawnOnce, 300)
      })
    }
    mkdirSync(join(h.dir, 'tmp'), { recursive: true })
    spawnOnce()
  }

  dockerdPid(h: DHost): number | undefined {
    return this.daemons.get(h.index)?.pid
  }

  async waitDocker(h: DHost, timeoutMs = 60_000): Promise<void> {
    const ok = await waitFor(async () => ((await this.docker(h, ['version', '--format', '{{.Server.Version}}'])).code === 0 ? true : undefined), timeoutMs, 250)
    if (!ok) throw new Error(`dockerd of ${h.name} did not answer within ${timeoutMs / 1000} s:\n${tail(h.log)}`)
  }

  docker(h: DHost, args: string[], opts: { input?: string; timeoutMs?: number } = {}) {
    return runEnv(DOCKER, ['-H', `unix://${h.sock}`, ...args], { DOCKER_CONFIG: join(this.root, 'docker-config') }, opts)
  }

  async mustDocker(h: DHost, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    const r = await this.docker(h, args, opts)
    if (r.code !== 0) throw new Error(`docker (${h.name}) ${args.join(' ')} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`)
    return r.stdout
  }

  /** iptables-save of a host's namespace without counters and comment lines. */
  async iptablesSave(ns?: string): Promise<string> {
    const r = ns ? await run('ip', ['netns', 'exec', ns, 'iptables-save']) : await run('iptables-save', [])
    return normalizeSave(r.stdout)
  }

  /** Stops a dockerd for good (no restart). */
  async stopDockerd(h: DHost, timeoutMs = 30_000): Promise<void> {
    this.stopping.add(h.index)
    const child = this.daemons.get(h.index)
    if (!child || child.exitCode !== null) return
    child.kill('SIGTERM')
    const gone = await waitFor(() => (child.exitCode !== null || child.signalCode !== null ? true : undefined), timeoutMs, 100)
    if (!gone) child.kill('SIGKILL')
  }

  /** Removes everything: containers, daemons, left-over processes, mounts, cgroups, namespaces, files. */
  async down(): Promise<string[]> {
    const notes: string[] = []
    for (const h of this.hosts) {
      if (!this.daemons.has(h.index)) continue
      const ids = (await this.docker(h, ['ps', '-aq'], { timeoutMs: 15_000 })).stdout.split('\n').filter(Boolean)
      if (ids.length) await this.docker(h, ['rm', '-f', ...ids], { timeoutMs: 60_000 })
    }
    await Promise.all(this.hosts.map((h) => this.stopDockerd(h)))
    // anything still running from our directories (containerd, shims) or in our cgroups / namespaces
    for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
      const pids = await this.leftoverPids()
      if (pids.length === 0) break
      notes.push(`${sig} ${pids.length} left-over processes`)
      for (const pid of pids) {
        try {
          process.kill(pid, sig)
        } catch {
          /* gone */
        }
      }
      await sleep(sig === 'SIGTERM' ? 1500 : 500)
    }
    const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').map(unescapeMount)
      .filter((m) => m.startsWith(`${this.root}/`)).reverse()
    for (const m of mounts) await run('umount', ['-l', m])
    if (mounts.length) notes.push(`unmounted ${mounts.length}`)
    for (const h of this.hosts) removeCgroups(h.cgroup)
    for (const ns of [this.sw, this.inet, ...this.hosts.map((h) => h.ns)]) await run('ip', ['netns', 'del', ns])
    rmSync(this.root, { recursive: true, force: true })
    return notes
  }

  /** Processes whose command line names our directories, in our cgroups, or in our host namespaces. */
  async leftoverPids(): Promise<number[]> {
    const pids = new Set<number>()
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue
      try {
        if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(this.root)) pids.add(Number(d))
      } catch {
        /* exited */
      }
    }
    for (const h of this.hosts) for (const pid of cgroupPids(h.cgroup)) pids.add(pid)
    for (const ns of [this.inet, ...this.hosts.map((h) => h.ns)]) {
      const r = await run('ip', ['netns', 'pids', ns])
      for (const l of r.stdout.split('\n').filter(Boolean)) pids.add(Number(l))
    }
    pids.delete(process.pid)
    return [...pids]
  }
}

function unescapeMount(s: string): string {
  return s.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
}

const CGROUP_ROOT = '/sys/fs/cgroup'

function cgroupDirs(name: string): string[] {
  if (!existsSync(CGROUP_ROOT)) return []
  const out: string[] = []
  for (const hier of readdirSync(CGROUP_ROOT)) {
    const d = join(CGROUP_ROOT, hier, name)
    if (existsSync(d)) out.push(d)
  }
  if (existsSync(join(CGROUP_ROOT, name))) out.push(join(CGROUP_ROOT, name))
  return out
}

function walk(dir: string): string[] {
  const out = [dir]
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) out.push(...walk(join(dir, e.name)))
  } catch {
    /* gone */
  }
  return out
}

function cgroupPids(name: string): number[] {
  const pids: number[] = []
  for (const d of cgroupDirs(name)) {
    for (const sub of walk(d)) {
      try {
        pids.push(...readFileSync(join(sub, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number))
      } catch {
        /* none */
      }
    }
  }
  return pids
}

function removeCgroups(name: string): void {
  for (const d of cgroupDirs(name)) {
    // cgroup directories are removed with rmdir, deepest first
    for (const sub of walk(d).reverse()) {
      try {
        rmdirSync(sub)
      } catch {
        /* busy or gone */
      }
    }
  }
}


/** The commands of the list this machine does not have (a Docker test is skipped without them). */
export function missingCommands(cmds: readonly string[]): string[] {
  return cmds.filter((cmd) => {
    try {
      execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' })
      return false
    } catch {
      return true
    }
  })
}

export function normalizeSave(text: string): string {
  return text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.replace(/\s\[\d+:\d+\]$/, '').replace(/^\[\d+:\d+\]\s+/, '')).join('\n')
}

export function tail(file: string, n = 25): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-n).join('\n')
  } catch {
    return '(no log)'
  }
}

export function runEnv(cmd: string, args: string[], env: Record<string, string>, opts: { input?: string; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000)
    child.on('error', (e) => {
      clearTimeout(timer)
      resolve({ code: 127, stdout, stderr: e.message })
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? 1, stdout, stderr })
    })
    if (opts.input !== undefined) child.stdin.end(opts.input)
    else child.stdin.end()
  })
}

/** Pipes `docker save` of one host into `docker load` of another. */
export function copyImage(lab: DockerLab, from: DHost, to: DHost, image: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, DOCKER_CONFIG: join(lab.root, 'docker-config') }
    const save = spawn(DOCKER, ['-H', `unix://${from.sock}`, 'save', image], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    const load = spawn(DOCKER, ['-H', `unix://${to.sock}`, 'load', '-q'], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    save.stdout.pipe(load.stdin)
    let err = ''
    save.stderr.on('data', (d: Buffer) => (err += d.toString()))
    load.stderr.on('data', (d: Buffer) => (err += d.toString()))
    load.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`docker save | load ${image} to ${to.name}: ${err}`))))
  })
}

/**
 * Imports a busybox image (this machine's static /bin/busybox with its applets
 * as links, CMD /bin/sh) into every engine of the lab, from one tarball under
 * the lab's root. No registry is needed.
 */
export async function importBusybox(lab: DockerLab, image: string, hosts: DHost[] = lab.hosts): Promise<void> {
  const bbRoot = join(lab.root, 'busybox')
  mkdirSync(join(bbRoot, 'bin'), { recursive: true })
  writeFileSync(join(bbRoot, 'bin/busybox'), readFileSync('/bin/busybox'), { mode: 0o755 })
  await must('/bin/busybox', ['--install', '-s', join(bbRoot, 'bin')])
  await must('sh', ['-c', `cd ${bbRoot}/bin && for l in *; do [ -L "$l" ] && ln -sf busybox "$l"; done; true`])
  const bbTar = join(lab.root, 'busybox.tar')
  await must('tar', ['-C', bbRoot, '-cf', bbTar, '.'])
  await Promise.all(hosts.map((h) => lab.mustDocker(h, ['import', '--change', 'CMD ["/bin/sh"]', bbTar, image])))
}
