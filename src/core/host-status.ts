/** Status shapes that host integration reports and the control API carries (host/ and api/ both import core/). */

/** One fabric network in `hostIntegration.networks` of /v1/status. */
export interface NetworkHostStatus {
  name: string
  pool: string
  subnet: string
  /** Docker's side; null when Docker is not used on this host */
  docker: { present: boolean; id: string | null; created: boolean; fits: boolean; problems: string[] } | null
  /** the Linux bridge of the network (Docker's br-ID or [network.NAME] bridge) */
  bridge: string | null
  /** the bridge exists and is administratively up (null: not known) */
  bridgeUp: boolean | null
  /** fabric's isolation rules in place (the firewall check in sync); null when --no-firewall */
  isolation: boolean | null
}
