/**
 * The control API's endpoints (docs/cli.md): what each path answers, on
 * top of the transport in control-server.ts. Requests are validated here;
 * the agent behind them is reached through AgentApi only.
 */
import { API, type LeaveResponse, type PeersResponse, type RoutesResponse, type StatusResponse, parseLeaveRequest } from '../api/types.js'
import { type Handler, json } from './control-server.js'
import type { EventHub } from './events.js'
import { isoTime } from '../util/time.js'

export interface AgentApi {
  readonly hostName: string
  status(): Promise<StatusResponse>
  routes(): Promise<RoutesResponse>
  peers(): PeersResponse
  /** `fabric leave`: carried out before the answer is sent */
  leave(): Promise<LeaveResponse>
  /** after the leave answer has been sent: the process should exit */
  afterLeave(): void
  /** log events for /v1/events */
  events?: EventHub
}

export function controlApi(agent: AgentApi): Map<string, Handler> {
  let leaving = false
  return new Map<string, Handler>([
    [API.status, async () => json(await agent.status())],
    [API.routes, async () => json(await agent.routes())],
    [API.peers, () => json(agent.peers())],
    [`POST ${API.leave}`, async ({ body }) => {
      const request = parseLeaveRequest(body)
      if (!request.ok) return json({ error: `POST ${API.leave}: ${request.error}` }, 400)
      if (leaving) return json({ error: 'this host is already leaving the fabric' }, 409)
      leaving = true
      const result = await agent.leave()
      // exit a moment after answering: the client (maybe `fabric leave` in this
      // very container, which stops with the agent) must get to print and exit first
      return { status: 200, body: result, sent: () => setTimeout(() => agent.afterLeave(), 1500) }
    }],
    [API.events, () => {
      const hub = agent.events
      if (!hub) return json({ error: 'events are not available' }, 503)
      return {
        status: 200,
        // the stream ends when the client closes the connection (hub.stream unsubscribes on close)
        stream: { contentType: 'application/x-ndjson', start: (out) => void hub.stream(out, { time: isoTime(), level: 'info', event: 'stream-start', host: agent.hostName }) },
      }
    }],
  ])
}
