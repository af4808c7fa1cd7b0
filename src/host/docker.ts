/**
 * Docker's side of the host integration:
 *   - daemon.json: render `bip` (and, for Docker >= 28.2, `allow-direct-routing`)
 *     from templates/daemon.json into the user's file, keeping every other key;
 *     atomic write, with a backup that `fabric leave` restores;
 *   - docker0: does it already own this host's subnet?
 *   - restarting the Docker daemon (systemd/service, through the host's init
 *     when running in the agent container with --pid=host, or a given command);
 *   - the Engine API on the Docker socket (HTTP over a unix socket): version,
 *     and the `--docker-network` bridge network with the fabric subnet.
 */
import { existsSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { type NetInterface, readInterfaces } from '../kernel/interfaces.js'
import { run } from '../util/process.js'
import { type UnixHttpResponse, UnixHttpTimeout, unixHttp } from '../util/unix-http.js'
import { formatAddress, formatPrefix, type Prefix, firstHost } from '../net/ipv4.js'

export const DEFAULT_DAEMON_JSON = '/etc/docker/daemon.json'
export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock'
export const BACKUP_SUFFIX = '.fabric-backup'

/** `bip` for a subnet: the first host address as gateway, with the prefix length. */
export function bipOf(subnet: Prefix): string {
  return `${formatAddress(firstHost(subnet))}/${subnet.len}`
}

/** "28.2.1" / "20.10.24+dfsg1" -> [28, 2, 1]; undefined when unparsable. */
export function parseVersion(v: string | undefined): [number, number, number] | undefined {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(v?.trim() ?? '')
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined
}

export function versionAtLeast(v: string | undefined, major: number, minor: number): boolean {
  const p = parseVersion(v)
  if (!p) return false
  return p[0] > major || (p[0] === major && p[1] >= minor)
}

const BUILTIN_TEMPLATE = '{\n  "bip": "{{bip}}",\n  "allow-direct-routing": "{{allow-direct-routing}}"\n}\n'

/** templates/daemon.json of the installed package (dist/ and src/ both sit two levels below it). */
export function readDaemonTemplate(): string {
  try {
    return readFileSync(new URL('../../templates/daemon.json', import.meta.url), 'utf8')
  } catch {
    return BUILTIN_TEMPLATE
  }
}

export class DaemonJsonError extends Error {
  constructor(readonly file: string, detail: string) {
    super(`${file}: ${detail}`)
    this.name = 'DaemonJsonError'
  }
}

export interface RenderInput {
  /** the current daemon.json text; undefined when the file does not exist */
  current: string | undefined
  template: string
  subnet: Prefix
  /** the Docker engine version, when known */
  dockerVersion?: string
  file?: string
}

export interface Rendered {
  text: string
  /** the keys fabric set (with their values) */
  set: Record<string, unknown>
  /** false when the current file already says all of it */
  changed: boolean
  warnings: string[]
}

/**
 * Merges fabric's keys into the user's daemon.json. Every user key is kept
 * (in place); fabric's keys overwrite theirs. Template placeholders:
 * "{{bip}}" and "{{allow-direct-routing}}" (true for Docker >= 28.2; the key is
 * left out for older engines, which reject unknown keys).
 */
export function renderDaemonJson(input: RenderInput): Rendered {
  const file = input.file ?? DEFAULT_DAEMON_JSON
  let user: Record<string, unknown> = {}
  if (input.current !== undefined && input.current.trim() !== '') {
    let parsed: unknown
    try {
      parsed = JSON.parse(input.current)
    } catch (e) {
      throw new DaemonJsonError(file, `is not valid JSON (${(e as Error).message}); fix it before fabric changes it`)
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new DaemonJsonError(file, 'expected a JSON object')
    user = parsed as Record<string, unknown>
  }
  let template: Record<string, unknown>
  try {
    template = JSON.parse(input.template) as Record<string, unknown>
  } catch (e) {
    throw new DaemonJsonError('templates/daemon.json', `is not valid JSON (${(e as Error).message})`)
  }
  const values: Record<string, unknown> = {
    bip: bipOf(input.subnet),
    'allow-direct-routing': versionAtLeast(input.dockerVersion, 28, 2) ? true : undefined,
  }
  const set: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(template)) {
    const m = typeof v === 'string' ? /^\{\{([a-z-]+)\}\}$/.exec(v) : null
    const value = m ? values[m[1]!] : v
    if (value === undefined) continue
    set[k] = value
  }
  const warnings: string[] = []
  if (typeof user['fixed-cidr'] === 'string') warnings.push(`${file} has "fixed-cidr": "${user['fixed-cidr']}"; it must lie inside ${formatPrefix(input.subnet)}`)
  if (user.bridge !== undefined && user.bridge !== 'docker0') warnings.push(`${file} has "bridge": ${JSON.stringify(user.bridge)}; "bip" applies to docker0 only`)
  const out: Record<string, unknown> = { ...user }
  for (const [k, v] of Object.entries(set)) out[k] = v
  const changed = input.current === undefined || Object.entries(set).some(([k, v]) => JSON.stringify(user[k]) !== JSON.stringify(v))
  return { text: `${JSON.stringify(out, null, 2)}\n`, set, changed, warnings }
}

/** The `bip` of a daemon.json text, if any. */
export function bipInDaemonJson(text: string | undefined): string | undefined {
  if (!text) return undefined
  try {
    const j = JSON.parse(text) as Record<string, unknown>
    return typeof j.bip === 'string' ? j.bip : undefined
  } catch {
    return undefined
  }
}

export function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw e
  }
}

/**
 * Writes daemon.json atomically (temp file + rename in the same directory).
 * The first time, the original is kept as FILE.fabric-backup (an empty backup
 * file means "there was no daemon.json"); later writes keep that first backup.
 */
export function writeDaemonJson(file: string, text: string): { backup: string; backupCreated: boolean } {
  const backup = file + BACKUP_SUFFIX
  let backupCreated = false
  if (!existsSync(backup)) {
    const original = readIfExists(file)
    writeAtomic(backup, original ?? '', original !== undefined ? statSync(file).mode & 0o777 : 0o644)
    backupCreated = true
  }
  const mode = existsSync(file) ? statSync(file).mode & 0o777 : 0o644
  writeAtomic(file, text, mode)
  return { backup, backupCreated }
}

/** Puts back the daemon.json fabric found (or removes it if there was none). Returns what it did. */
export function restoreDaemonJson(file: string): 'restored' | 'removed' | 'no-backup' {
  const backup = file + BACKUP_SUFFIX
  const original = readIfExists(backup)
  if (original === undefined) return 'no-backup'
  if (original === '') {
    rmSync(file, { force: true })
    rmSync(backup, { force: true })
    return 'removed'
  }
  renameSync(backup, file)
  return 'restored'
}

function writeAtomic(file: string, text: string, mode: number): void {
  const tmp = `${file}.fabric-tmp`
  writeFileSync(tmp, text, { mode })
  renameSync(tmp, file)
}

/**
 * The IPv4 addresses (address/len) of an interface of this network namespace,
 * undefined when it does not exist. From rtnetlink (`read`), which also lists
 * interfaces that are down (docker0 without containers is); never a child process.
 */
export async function interfaceAddresses(name: string, read: () => Promise<NetInterface[]> = readInterfaces): Promise<string[] | undefined> {
  const iface = (await read()).find((i) => i.name === name)
  return iface?.addresses.map((a) => `${formatAddress(a.address)}/${a.prefixLen}`)
}

export type BridgeState = { state: 'match' } | { state: 'mismatch'; addresses: string[] } | { state: 'absent' }

/** Does the bridge (docker0) own the gateway address of this host's subnet with its prefix length? */
export function bridgeState(addresses: string[] | undefined, subnet: Prefix): BridgeState {
  if (addresses === undefined) return { state: 'absent' }
  return addresses.includes(bipOf(subnet)) ? { state: 'match' } : { state: 'mismatch', addresses }
}

// --- restarting the Docker daemon -------------------------------------------------

export interface RestartPlan {
  /** argv to run */
  argv: string[]
  /** shown to the user */
  display: string
  via: string
}

/**
 * How to restart Docker: a given shell command; else systemd or `service`,
 * entered through PID 1's namespaces when fabric runs in a container that
 * shares the host's PID namespace (`--pid=host`).
 */
export function restartPlan(command: string | undefined, probe: { inContainer: boolean; sameMountNsAsInit: boolean; initComm: string | undefined; hasSystemdDir: boolean }): RestartPlan | { error: string } {
  if (command) return { argv: ['sh', '-c', command], display: command, via: '--docker-restart-command' }
  const systemd = probe.initComm === 'systemd' || (probe.sameMountNsAsInit && probe.hasSystemdDir)
  const base = systemd ? ['systemctl', 'restart', 'docker'] : ['service', 'docker', 'restart']
  if (!probe.sameMountNsAsInit) {
    return { argv: ['nsenter', '--target', '1', '--mount', '--uts', '--ipc', '--net', '--pid', '--', ...base], display: base.join(' '), via: `the host's init (${probe.initComm ?? 'pid 1'}) through nsenter` }
  }
  if (probe.inContainer) {
    return { error: "fabric runs in a container that does not share the host's PID namespace, so it cannot reach the host's init to restart Docker: run the agent container with --pid=host, or pass --docker-restart-command" }
  }
  return { argv: base, display: base.join(' '), via: systemd ? 'systemd' : 'service' }
}

export function probeInit(): { inContainer: boolean; sameMountNsAsInit: boolean; initComm: string | undefined; hasSystemdDir: boolean } {
  const ns = (p: string): string | undefined => {
    try {
      return readlinkSync(p)
    } catch {
      return undefined
    }
  }
  let initComm: string | undefined
  try {
    initComm = readFileSync('/proc/1/comm', 'utf8').trim()
  } catch {
    initComm = undefined
  }
  const self = ns('/proc/self/ns/mnt')
  const init = ns('/proc/1/ns/mnt')
  return {
    inContainer: existsSync('/.dockerenv') || existsSync('/run/.containerenv'),
    sameMountNsAsInit: self === undefined || init === undefined || self === init,
    initComm,
    hasSystemdDir: existsSync('/run/systemd/system'),
  }
}

/** Runs a restart plan; resolves with its exit code and output. */
export async function runRestart(plan: RestartPlan, timeoutMs = 120_000): Promise<{ code: number; output: string }> {
  const r = await run(plan.argv[0]!, plan.argv.slice(1), { timeoutMs })
  return { code: r.code, output: [r.stdout.trim(), r.stderr.trim()].filter(Boolean).join('\n') }
}

// --- the Engine API ----------------------------------------------------------------

export class DockerApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message)
    this.name = 'DockerApiError'
  }
}

/** One Engine API call over the unix socket; JSON in and out. */
export async function dockerApi<T = unknown>(socket: string, method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<T> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
  let res: UnixHttpResponse
  try {
    res = await unixHttp(socket, method, path, {
      body: payload, timeoutMs,
      headers: { Host: 'docker', ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {}) },
    })
  } catch (e) {
    if (e instanceof UnixHttpTimeout) throw new Error(`Docker API ${method} ${path}: ${e.message}`)
    throw e
  }
  let json: unknown
  try {
    json = res.text ? JSON.parse(res.text) : undefined
  } catch {
    json = res.text
  }
  if (res.status >= 200 && res.status < 300) return json as T
  throw new DockerApiError(res.status, `Docker API ${method} ${path}: ${res.status} ${(json as { message?: string })?.message ?? res.text}`)
}

/** The engine version, or undefined when Docker does not answer on the socket. */
export async function engineVersion(socket: string): Promise<string | undefined> {
  try {
    const v = await dockerApi<{ Version?: string }>(socket, 'GET', '/version', undefined, 3000)
    return v?.Version
  } catch {
    return undefined
  }
}

export const MANAGED_LABEL = 'io.fabric.managed'

export interface NetworkInfo {
  Id: string
  Name: string
  Driver: string
  IPAM?: { Config?: { Subnet?: string; IPRange?: string; Gateway?: string; AuxiliaryAddresses?: Record<string, string> }[] }
  Options?: Record<string, string>
  Labels?: Record<string, string>
  Containers?: Record<string, unknown>
}

/** The body of POST /networks/create for the fabric network. */
export function networkCreateBody(name: string, subnet: Prefix, dockerVersion: string | undefined, bridgeName?: string): Record<string, unknown> {
  const options: Record<string, string> = { 'com.docker.network.bridge.enable_ip_masquerade': 'false' }
  if (bridgeName) options['com.docker.network.bridge.name'] = bridgeName
  // Docker >= 28.0 drops packets routed straight to container addresses
  // unless the network's gateway mode says otherwise
  if (versionAtLeast(dockerVersion, 28, 0)) options['com.docker.network.bridge.gateway_mode_ipv4'] = 'nat-unprotected'
  return {
    Name: name,
    Driver: 'bridge',
    CheckDuplicate: true,
    IPAM: { Driver: 'default', Config: [{ Subnet: formatPrefix(subnet), Gateway: formatAddress(firstHost(subnet)) }] },
    Options: options,
    Labels: { [MANAGED_LABEL]: 'true' },
  }
}

export async function inspectNetwork(socket: string, name: string): Promise<NetworkInfo | undefined> {
  try {
    return await dockerApi<NetworkInfo>(socket, 'GET', `/networks/${encodeURIComponent(name)}`)
  } catch (e) {
    if (e instanceof DockerApiError && e.status === 404) return undefined
    throw e
  }
}

/** Does an existing network fit fabric (same subnet, masquerade off)? Empty when it does. */
export function networkMismatch(net: NetworkInfo, subnet: Prefix): string[] {
  const problems: string[] = []
  const subnets = (net.IPAM?.Config ?? []).map((c) => c.Subnet)
  if (!subnets.includes(formatPrefix(subnet))) problems.push(`subnet ${subnets.join(', ') || 'none'} (fabric needs ${formatPrefix(subnet)})`)
  if (net.Driver !== 'bridge') problems.push(`driver ${net.Driver} (fabric needs bridge)`)
  if (net.Options?.['com.docker.network.bridge.enable_ip_masquerade'] !== 'false') problems.push('masquerade on (fabric needs com.docker.network.bridge.enable_ip_masquerade=false)')
  return problems
}

/** The Linux bridge of a Docker network: its name option, else br-<first 12 of the id>. */
export function networkBridge(net: NetworkInfo): string {
  return net.Options?.['com.docker.network.bridge.name'] ?? `br-${net.Id.slice(0, 12)}`
}
