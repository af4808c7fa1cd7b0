/**
 * The agent's event loop drives BGP and RIP timers: nothing the agent runs
 * may block it on a child process (issue: every /v1/status ran
 * execFileSync('ip', ...) with a 5 s timeout). Checks every file the agent
 * imports, directly or not.
 */
import { readFileSync } from 'node:fs'
import { dirname, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import test from 'ava'

const SRC = fileURLToPath(new URL('../../../src/', import.meta.url))

function reachable(entry: string): string[] {
  const seen = new Set<string>()
  const visit = (f: string): void => {
    if (seen.has(f)) return
    seen.add(f)
    const text = readFileSync(f, 'utf8')
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const spec = m[1]
      if (spec !== undefined) visit(resolve(dirname(f), spec.replace(/\.js$/, '.ts')))
    }
  }
  visit(entry)
  return [...seen]
}

const SYNC_CHILD = /\b(execFileSync|execSync|spawnSync)\b/

test('no synchronous child process anywhere the agent (and fabric join) reaches', (t) => {
  const files = new Set([...reachable(resolve(SRC, 'agent/agent.ts')), ...reachable(resolve(SRC, 'commands/join.ts')), ...reachable(resolve(SRC, 'commands/join-main.ts'))])
  t.true(files.size > 30, `${files.size} files reached`)
  const offenders = [...files].filter((f) => SYNC_CHILD.test(readFileSync(f, 'utf8'))).map((f) => relative(SRC, f))
  t.deepEqual(offenders, [])
})

test('the check sees a synchronous child process where there is one', (t) => {
  t.true(SYNC_CHILD.test("out = execFileSync('ip', ['-j', 'addr'])"))
  t.false(SYNC_CHILD.test("await run('ip', ['-j', 'addr'])"))
})
