/**
 * Docker's side of the host integration:
 *   - daemon.json: render `bip` (and, for Docker >= 28.2, `allow-direct-routing`;
 *     on a dual-stack host `ipv6` and `fixed-cidr-v6`) from templates/daemon.json
 *     into the user's file, keeping every other key; atomic write, with a
 *     backup that `fabric leave` restores;
 *   - docker0: does it already own this host's subnet?
 *   - restarting the Docker daemon (systemd/service, through the host's init
 *     when running in the agent container with --pid=host, or a given command);
 *   - the Engine API on the Docker socket (HTTP over a unix socket): version,
 *     and the `--docker-network` bridge network with the fabric subnet.
 */
import { existsSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { type NetInterface, readInterfaces } from '../kernel/interfaces.js'
import { Rtnl } from '../kernel/rtnl.js'
import { run } from '../util/process.js'
import { type UnixHttpResponse, UnixHttpTimeout, unixHttp } from '../util/unix-http.js'
import { formatAddress, formatPrefix, type Prefix, firstHost } from '../net/ipv4.js'
import { type Prefix6, bytesOf6, formatIpv6, formatPrefix6, parsePrefix6, samePrefix6 } from '../net/ipv6.js'

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

/** docker0's IPv6 gateway for a subnet6: its first address (::1 of a /64), with the prefix length, as Docker assigns it from fixed-cidr-v6. */
export function bip6Of(subnet6: Prefix6): string {
  const b = bytesOf6(subnet6.addr)
  b[15] = b[15]! | 1
  return `${formatIpv6(b)}/${subnet6.len}`
}

const BUILTIN_TEMPLATE = '{\n  "bip": "{{bip}}",\n  "allow-direct-routing": "{{allow-direct-routing}}",\n  "ipv6": "{{ipv6}}",\n  "fixed-cidr-v6": "{{fixed-cidr-v6}}"\n}\n'

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
  /** this host's IPv6 subnet (dual-stack host, pool6 configured): `ipv6` and `fixed-cidr-v6` are set too */
  subnet6?: Prefix6
  /**
   * daemon.json as fabric first found it (its backup when fabric wrote the
   * file before, else `current`): the user's own values, which fabric's IPv6
   * keys may not overwrite
   */
  original?: string
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

function parseDaemonJson(text: string | undefined, file: string): Record<string, unknown> {
  if (text === undefined || text.trim() === '') return {}
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (e) {
    throw new DaemonJsonError(file, `is not valid JSON (${(e as Error).message}); fix it before fabric changes it`)
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new DaemonJsonError(file, 'expected a JSON object')
  return parsed as Record<string, unknown>
}

/**
 * The user's IPv6 keys that conflict with this host's subnet6: `"ipv6": false`
 * and a `"fixed-cidr-v6"` other than subnet6. Unlike `bip` (docker0's IPv4
 * address, which fabric replaces), these are refused: a fixed-cidr-v6 of the
 * user's is usually a prefix their network routes to this host, and
 * replacing it would silently renumber every container's IPv6 address.
 */
export function ipv6Conflicts(user: Record<string, unknown>, subnet6: Prefix6): string[] {
  const out: string[] = []
  const want = formatPrefix6(subnet6)
  if (user.ipv6 !== undefined && user.ipv6 !== true) out.push(`"ipv6": ${JSON.stringify(user.ipv6)}, but pool6 is configured and docker0 needs "ipv6": true; remove the key (fabric sets it) or set it to true`)
  const v6 = user['fixed-cidr-v6']
  if (v6 !== undefined) {
    const p = typeof v6 === 'string' ? parsePrefix6(v6, false) : undefined
    if (!p?.ok || !samePrefix6(p.value, subnet6)) {
      out.push(`"fixed-cidr-v6": ${JSON.stringify(v6)}, but this host's fabric subnet6 is ${want}; fabric does not replace it: remove the key (fabric sets it) or set it to "${want}", or give this host subnet6 = ${typeof v6 === 'string' ? v6 : 'PREFIX'} in fabric.ini if that prefix is inside pool6`)
    }
  }
  return out
}

/**
 * Merges fabric's keys into the user's daemon.json. Every user key is kept
 * (in place); fabric's IPv4 keys overwrite theirs. Template placeholders:
 * "{{bip}}", "{{allow-direct-routing}}" (true for Docker >= 28.2; the key is
 * left out for older engines, which reject unknown keys), "{{ipv6}}" and
 * "{{fixed-cidr-v6}}" (only with subnet6). A user's `ipv6` / `fixed-cidr-v6`
 * that conflicts with subnet6 is refused (DaemonJsonError), never replaced.
 */
export function renderDaemonJson(input: RenderInput): Rendered {
  const file = input.file ?? DEFAULT_DAEMON_JSON
  const user = parseDaemonJson(input.current, file)
  if (input.subnet6 !== undefined) {
    const original = input.original === undefined ? user : parseDaemonJson(input.original, `${file}${BACKUP_SUFFIX}`)
    const conflicts = ipv6Conflicts(original, input.subnet6)
    if (conflicts.length > 0) throw new DaemonJsonError(file, `conflicts with fabric's IPv6 settings (nothing changed): ${conflicts.join('; ')}`)
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
    ipv6: input.subnet6 !== undefined ? true : undefined,
    'fixed-cidr-v6': input.subnet6 !== undefined ? formatPrefix6(input.subnet6) : undefined,
  }
  const set: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(template)) {
    const m = typeof v === 'string' ? /^\{\{([a-z0-9-]+)\}\}$/.exec(v) : null
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
  return stringKey(text, 'bip')
}

/** A string key of a daemon.json text (`fixed-cidr-v6`), if any. */
export function stringKey(text: string | undefined, key: string): string | undefined {
  if (!text) return undefined
  try {
    const j = JSON.parse(text) as Record<string, unknown>
    return typeof j[key] === 'string' ? (j[key] as string) : undefined
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

/**
 * The IPv6 addresses (RFC 5952 address/len) of an interface, undefined when it
 * does not exist; link-local ones are included (docker0 always has one).
 */
export async function interfaceAddresses6(name: string, rtnl?: Pick<Rtnl, 'dumpLinks' | 'dumpAddresses6'>): Promise<string[] | undefined> {
  const own = rtnl === undefined ? new Rtnl() : undefined
  const r = rtnl ?? own!
  try {
    const [links, addrs] = await Promise.all([r.dumpLinks(), r.dumpAddresses6()])
    const link = links.find((l) => l.name === name)
    if (!link) return undefined
    return addrs.filter((a) => a.index === link.index).map((a) => `${a.address}/${a.prefixLen}`)
  } finally {
    own?.close()
  }
}

/** Does the bridge own subnet6's gateway (::1 of it, with the prefix length), as Docker gives it from fixed-cidr-v6? */
export function bridgeState6(addresses6: string[] | undefined, subnet6: Prefix6): BridgeState {
  if (addresses6 === undefined) return { state: 'absent' }
  return addresses6.includes(bip6Of(subnet6)) ? { state: 'match' } : { state: 'mismatch', addresses: addresses6 }
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
  EnableIPv6?: boolean
  IPAM?: { Config?: { Subnet?: string; IPRange?: string; Gateway?: string; AuxiliaryAddresses?: Record<string, string> }[] }
  Options?: Record<string, string>
  Labels?: Record<string, string>
  Containers?: Record<string, unknown>
}

/**
 * The body of POST /networks/create for the fabric network; with subnet6
 * (dual-stack host) the network is dual-stack too: EnableIPv6 and subnet6
 * with its first address as gateway.
 */
export function networkCreateBody(name: string, subnet: Prefix, dockerVersion: string | undefined, bridgeName?: string, subnet6?: Prefix6): Record<string, unknown> {
  const options: Record<string, string> = { 'com.docker.network.bridge.enable_ip_masquerade': 'false' }
  if (bridgeName) options['com.docker.network.bridge.name'] = bridgeName
  // Docker >= 28.0 drops packets routed straight to container addresses
  // unless the network's gateway mode says otherwise
  if (versionAtLeast(dockerVersion, 28, 0)) {
    options['com.docker.network.bridge.gateway_mode_ipv4'] = 'nat-unprotected'
    if (subnet6 !== undefined) options['com.docker.network.bridge.gateway_mode_ipv6'] = 'nat-unprotected'
  }
  const config: Record<string, string>[] = [{ Subnet: formatPrefix(subnet), Gateway: formatAddress(firstHost(subnet)) }]
  if (subnet6 !== undefined) config.push({ Subnet: formatPrefix6(subnet6), Gateway: bip6Of(subnet6).split('/')[0]! })
  return {
    Name: name,
    Driver: 'bridge',
    CheckDuplicate: true,
    ...(subnet6 !== undefined ? { EnableIPv6: true } : {}),
    IPAM: { Driver: 'default', Config: config },
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

/** Does an existing network fit fabric (same subnet, and subnet6 with IPv6 on for a dual-stack host, masquerade off)? Empty when it does. */
export function networkMismatch(net: NetworkInfo, subnet: Prefix, subnet6?: Prefix6): string[] {
  const problems: string[] = []
  const subnets = (net.IPAM?.Config ?? []).map((c) => c.Subnet)
  const v4 = subnets.filter((x) => x !== undefined && !x.includes(':'))
  if (!subnets.includes(formatPrefix(subnet))) problems.push(`subnet ${v4.join(', ') || 'none'} (fabric needs ${formatPrefix(subnet)})`)
  if (subnet6 !== undefined) {
    const v6 = subnets.filter((x): x is string => x?.includes(':') === true)
    const has6 = v6.some((x) => {
      const p = parsePrefix6(x, false)
      return p.ok && samePrefix6(p.value, subnet6)
    })
    if (!has6) problems.push(`IPv6 subnet ${v6.join(', ') || 'none'} (fabric needs ${formatPrefix6(subnet6)})`)
    if (net.EnableIPv6 !== true) problems.push(`IPv6 off (fabric needs EnableIPv6 with subnet6 ${formatPrefix6(subnet6)})`)
  }
  if (net.Driver !== 'bridge') problems.push(`driver ${net.Driver} (fabric needs bridge)`)
  if (net.Options?.['com.docker.network.bridge.enable_ip_masquerade'] !== 'false') problems.push('masquerade on (fabric needs com.docker.network.bridge.enable_ip_masquerade=false)')
  return problems
}

/** The Linux bridge of a Docker network: its name option, else br-<first 12 of the id>. */
export function networkBridge(net: NetworkInfo): string {
  return net.Options?.['com.docker.network.bridge.name'] ?? `br-${net.Id.slice(0, 12)}`
}
