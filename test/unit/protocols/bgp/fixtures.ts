import { readFileSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface FixtureMessage {
  /** which daemon sent it: "bird" or "frr" */
  from: string
  /** open | update | notification | keepalive | routeRefresh */
  type: string
  /** whole message, header included */
  hex: string
  note?: string
}

export interface Fixture {
  file: string
  description: string
  /** daemon versions */
  daemons: Record<string, string>
  /** session options in force when the UPDATEs were sent */
  ctx: { as4: boolean }
  messages: FixtureMessage[]
}

export const FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../../fixtures/bgp')

export function loadFixtures(): Fixture[] {
  let files: string[] = []
  try {
    files = readdirSync(FIXTURE_DIR).filter((f) => f.endsWith('.json')).sort()
  } catch {
    return []
  }
  return files.map((f) => ({ file: f, ...(JSON.parse(readFileSync(join(FIXTURE_DIR, f), 'utf8')) as Omit<Fixture, 'file'>) }))
}
