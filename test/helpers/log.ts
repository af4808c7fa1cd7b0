/** Shared test helper: a Logger that records event names (and, separately, those sent through limited()). */
import type { Logger } from '../../src/core/log.js'

export function eventLog(events: string[] = [], limited: string[] = []): Logger {
  const log = (_l: string, e: string) => { events.push(e) }
  const l: Logger = { log, debug: (e) => log('debug', e), info: (e) => log('info', e), warn: (e) => log('warn', e), error: (e) => log('error', e), limited: (_l, e) => { limited.push(e); log('', e) }, child: () => l }
  return l
}
