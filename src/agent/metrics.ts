/**
 * Prometheus exposition (prom-client) on --metrics-listen ADDR:PORT, off by
 * default (then prom-client is not even loaded). Gauges are computed at scrape time from the agent's state; the
 * reconcile duration is a histogram observed by FIB sync.
 */
import { type Server, createServer } from 'node:http'
import type { Counter as CounterT, Gauge as GaugeT, Registry } from 'prom-client'

export interface MetricsView {
  /** desired routes by source and kernel state */
  routes(): { source: string; state: string; count: number }[]
  /** desired IPv6 routes by source and kernel state (dual-stack host; empty otherwise) */
  routes6?(): { source: string; state: string; count: number }[]
  /** peers/sessions by source and state */
  sessions(): { source: string; state: string; count: number }[]
  kernel(): { opsApplied: number; opsFailed: number; fullReconciles: number; incrementalRuns: number }
  /** each source's flat counters (rx-packets / rx-messages, tx-packets / tx-messages, drop-packet:<reason>, drop-entry:<reason> / drop-route:<reason>, drop-connection:<reason>) */
  sourceCounters(): { source: string; counters: Record<string, unknown> }[]
  info(): Record<string, string>
  /** /v1/events subscribers and the events dropped for slow ones */
  events(): { subscribers: number; dropped: number; disconnected: number }
}

export interface Metrics {
  registry: Registry
  observeReconcile(kind: 'full' | 'incremental', seconds: number): void
  listen(spec: string): Promise<string>
  close(): Promise<void>
}

/** Parses ADDR:PORT (IPv4 or [IPv6]); the port must be given. */
export function parseListen(spec: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(spec.trim())
  if (!m) return undefined
  const port = Number(m[3])
  if (port < 1 || port > 65535) return undefined
  return { host: (m[1] ?? m[2])!, port }
}

/**
 * Builds the registry. prom-client is loaded here, on first use, so an agent
 * without --metrics-listen never loads it (about 3.5 MB of RSS).
 */
export async function createMetrics(view: MetricsView): Promise<Metrics> {
  const { Counter, Gauge, Histogram, Registry } = await import('prom-client')
  const registry = new Registry()
  const g = <T extends string>(name: string, help: string, labelNames: T[], collect: (gauge: GaugeT<T>) => void): GaugeT<T> =>
    new Gauge<T>({ name, help, labelNames, registers: [registry], collect(this: GaugeT<T>) { this.reset(); collect(this) } })
  g('fabric_info', 'fabric agent information (value 1)', ['version', 'host', 'mode'], (gauge) => {
    const i = view.info()
    gauge.set({ version: i.version ?? '', host: i.host ?? '', mode: i.mode ?? '' }, 1)
  })
  g('fabric_routes', 'routes wanted by fabric, by source and kernel state', ['source', 'state'], (gauge) => {
    for (const r of view.routes()) gauge.set({ source: r.source, state: r.state }, r.count)
  })
  g('fabric_ipv6_routes', 'IPv6 routes wanted by fabric, by source and kernel state', ['source', 'state'], (gauge) => {
    for (const r of view.routes6?.() ?? []) gauge.set({ source: r.source, state: r.state }, r.count)
  })
  g('fabric_sessions', 'peers/sessions by source and state', ['source', 'state'], (gauge) => {
    for (const s of view.sessions()) gauge.set({ source: s.source, state: s.state }, s.count)
  })
  g('fabric_event_subscribers', 'clients following /v1/events', [], (gauge) => gauge.set(view.events().subscribers))
  new Counter({ name: 'fabric_events_dropped_total', help: 'events not sent to a /v1/events client that read too slowly', registers: [registry], collect(this: CounterT) { this.reset(); this.inc(view.events().dropped) } })
  new Counter({ name: 'fabric_event_subscribers_disconnected_total', help: '/v1/events clients disconnected for reading nothing too long', registers: [registry], collect(this: CounterT) { this.reset(); this.inc(view.events().disconnected) } })
  new Counter({ name: 'fabric_kernel_operations_total', help: 'kernel route operations applied', registers: [registry], collect(this: CounterT) { this.reset(); this.inc(view.kernel().opsApplied) } })
  new Counter({ name: 'fabric_kernel_errors_total', help: 'kernel route operations that failed', registers: [registry], collect(this: CounterT) { this.reset(); this.inc(view.kernel().opsFailed) } })
  new Counter({ name: 'fabric_kernel_syncs_total', help: 'kernel sync runs by kind', labelNames: ['kind'], registers: [registry], collect(this: CounterT<'kind'>) {
    this.reset()
    const k = view.kernel()
    this.inc({ kind: 'full' }, k.fullReconciles)
    this.inc({ kind: 'incremental' }, k.incrementalRuns)
  } })
  const counterFrom = (name: string, help: string, match: (key: string) => string | undefined | null, labels: ('source' | 'reason')[]) =>
    new Counter({ name, help, labelNames: labels, registers: [registry], collect(this: CounterT<'source' | 'reason'>) {
      this.reset()
      for (const { source, counters } of view.sourceCounters()) {
        for (const [key, value] of Object.entries(counters)) {
          if (typeof value !== 'number') continue
          const reason = match(key)
          if (reason === undefined) continue
          this.inc(reason === null ? { source } : { source, reason }, value)
        }
      }
    } })
  counterFrom('fabric_packets_received_total', 'protocol packets/messages received', (k) => (k === 'rx-packets' || k === 'rx-messages' ? null : undefined), ['source'])
  counterFrom('fabric_packets_sent_total', 'protocol packets/messages sent', (k) => (k === 'tx-packets' || k === 'tx-messages' ? null : undefined), ['source'])
  counterFrom('fabric_packets_dropped_total', 'protocol packets/messages dropped, by reason', (k) => (k.startsWith('drop-packet:') ? k.slice(12) : undefined), ['source', 'reason'])
  counterFrom('fabric_connections_refused_total', 'protocol connections refused or closed before a session, by reason', (k) => (k.startsWith('drop-connection:') ? k.slice(16) : undefined), ['source', 'reason'])
  counterFrom('fabric_graceful_restarts_helped_total', 'BGP peers helped through a graceful restart (RFC 4724: their routes kept while they restarted)', (k) => (k === 'gracefulRestart.restartsHelped' ? null : undefined), ['source'])
  counterFrom('fabric_graceful_restart_stale_swept_total', 'stale routes removed after a restarted peer\'s End-of-RIB or when helping ended', (k) => (k === 'gracefulRestart.staleSwept' ? null : undefined), ['source'])
  counterFrom('fabric_graceful_restart_helper_ended_total', 'helper mode ended before End-of-RIB, by reason (restart time over, consecutive restart, hard reset, BFD down, ...)', (k) => (k.startsWith('gracefulRestart.helperEnded.') ? k.slice('gracefulRestart.helperEnded.'.length) : undefined), ['source', 'reason'])
  counterFrom('fabric_routes_rejected_total', 'received routes rejected (policy, validation), by reason', (k) => (k.startsWith('drop-entry:') ? k.slice(11) : k.startsWith('drop-route:') ? k.slice(11) : undefined), ['source', 'reason'])
  const reconcile = new Histogram({
    name: 'fabric_kernel_sync_duration_seconds', help: 'duration of kernel sync runs', labelNames: ['kind'], registers: [registry],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  })
  let server: Server | undefined
  return {
    registry,
    observeReconcile: (kind, seconds) => reconcile.observe({ kind }, seconds),
    async listen(spec) {
      const l = parseListen(spec)
      if (!l) throw new Error(`--metrics-listen "${spec}": expected ADDR:PORT, e.g. 127.0.0.1:9477`)
      server = createServer((req, res) => {
        if (req.url !== '/metrics') {
          res.writeHead(404).end('fabric metrics are at /metrics\n')
          return
        }
        registry.metrics().then((text) => {
          res.writeHead(200, { 'content-type': registry.contentType })
          res.end(text)
        }, (e: Error) => res.writeHead(500).end(e.message))
      })
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject)
        server!.listen(l.port, l.host, () => resolve())
      })
      return `${l.host}:${l.port}`
    },
    async close() {
      const s = server
      server = undefined
      if (s) await new Promise<void>((r) => s.close(() => r()))
    },
  }
}
