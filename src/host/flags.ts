/**
 * The `fabric join` options of the host integration (docker0, firewall), as a
 * plain typed description: names, types, env vars, defaults and help text.
 * The CLI builds its flags from it (src/cli-support/host-flags.ts); the hooks
 * get the parsed values as `options` and read them with readHostOptions.
 */
import { DEFAULT_DAEMON_JSON, DEFAULT_DOCKER_SOCKET } from './docker.js'

/** Help group the host options are listed under. */
export const HOST_HELP_GROUP = 'HOST'

export type HostOptionSpec =
  | { type: 'boolean'; description: string; env: string; default?: boolean; allowNo?: boolean }
  | { type: 'string'; description: string; env: string; default?: string; options?: readonly string[] }

export const HOST_OPTIONS = {
  'configure-docker': {
    type: 'boolean',
    description: "when docker0 does not own this host's subnet: write `bip` into daemon.json (backup kept) and restart the Docker daemon (without it, fabric join prints the commands and exits 3)",
    env: 'FABRIC_CONFIGURE_DOCKER',
  },
  'docker-network': {
    type: 'string',
    description: 'instead of docker0: create (or check) this user-defined Docker bridge network with the fabric subnet, masquerade off; needs no Docker restart',
    env: 'FABRIC_DOCKER_NETWORK',
  },
  'daemon-json': { type: 'string', description: "Docker's daemon.json", env: 'FABRIC_DAEMON_JSON', default: DEFAULT_DAEMON_JSON },
  'docker-socket': { type: 'string', description: "Docker's Engine API socket", env: 'FABRIC_DOCKER_SOCKET', default: DEFAULT_DOCKER_SOCKET },
  'docker-restart-command': {
    type: 'string',
    description: 'shell command that restarts the Docker daemon [default: systemctl restart docker, or service docker restart; through the host\'s init when in a container with --pid=host]',
    env: 'FABRIC_DOCKER_RESTART_COMMAND',
  },
  firewall: {
    type: 'boolean', description: "manage fabric's iptables chains (FABRIC-FORWARD, FABRIC-POSTROUTING)", env: 'FABRIC_FIREWALL', default: true, allowNo: true,
  },
  masquerade: {
    type: 'boolean', description: 'masquerade traffic from this host\'s subnet to destinations outside the pool (FABRIC-POSTROUTING)', env: 'FABRIC_MASQUERADE', default: true, allowNo: true,
  },
  'iptables-backend': {
    type: 'string', description: 'iptables backend to program', options: ['auto', 'nft', 'legacy'], env: 'FABRIC_IPTABLES_BACKEND', default: 'auto',
  },
  'firewall-check-interval': {
    type: 'string', description: "seconds between checks that fabric's chains are in place when nf_tables change events cannot be had (legacy iptables); with them the chains are checked on every change and every 5 minutes", env: 'FABRIC_FIREWALL_CHECK_INTERVAL', default: '3',
  },
} as const satisfies Record<string, HostOptionSpec>

export type HostOptionName = keyof typeof HOST_OPTIONS

/** The host options among parsed flags (those given or defaulted), for the hooks. */
export function hostOptions(flags: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const name of Object.keys(HOST_OPTIONS)) if (flags[name] !== undefined) out[name] = flags[name]
  return out
}

/** Typed view of the options, with the defaults for callers that pass none (tests, the lab). */
export interface HostOptions {
  configureDocker: boolean
  dockerNetwork?: string
  daemonJson: string
  dockerSocket: string
  dockerRestartCommand?: string
  firewall: boolean
  masquerade: boolean
  iptablesBackend: 'auto' | 'nft' | 'legacy'
  firewallCheckInterval: number
}

export function readHostOptions(o: Record<string, unknown>): { options: HostOptions; errors: string[] } {
  const errors: string[] = []
  const str = (k: string): string | undefined => (typeof o[k] === 'string' && o[k] !== '' ? (o[k] as string) : undefined)
  const bool = (k: string, d: boolean): boolean => (typeof o[k] === 'boolean' ? (o[k] as boolean) : typeof o[k] === 'string' ? /^(1|true|yes|on)$/i.test(o[k] as string) : d)
  const interval = Number(str('firewall-check-interval') ?? HOST_OPTIONS['firewall-check-interval'].default)
  if (!Number.isFinite(interval) || interval < 0.5 || interval > 300) errors.push(`--firewall-check-interval "${String(o['firewall-check-interval'])}": expected seconds between 0.5 and 300`)
  const backend = str('iptables-backend') ?? HOST_OPTIONS['iptables-backend'].default
  if (!(HOST_OPTIONS['iptables-backend'].options as readonly string[]).includes(backend)) errors.push(`--iptables-backend "${backend}": expected auto, nft or legacy`)
  const network = str('docker-network')
  if (network !== undefined && bool('configure-docker', false)) errors.push('--configure-docker and --docker-network exclude each other: the first gives docker0 the fabric subnet, the second a separate network')
  if (network !== undefined && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(network)) errors.push(`--docker-network "${network}": expected a Docker network name (letters, digits, _ . -)`)
  return {
    options: {
      configureDocker: bool('configure-docker', false),
      dockerNetwork: network,
      daemonJson: str('daemon-json') ?? HOST_OPTIONS['daemon-json'].default,
      dockerSocket: str('docker-socket') ?? HOST_OPTIONS['docker-socket'].default,
      dockerRestartCommand: str('docker-restart-command'),
      firewall: bool('firewall', HOST_OPTIONS.firewall.default),
      masquerade: bool('masquerade', HOST_OPTIONS.masquerade.default),
      iptablesBackend: backend as HostOptions['iptablesBackend'],
      firewallCheckInterval: interval,
    },
    errors,
  }
}

