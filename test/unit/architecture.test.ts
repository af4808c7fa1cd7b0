/**
 * The dependency rule (docs/architecture.md): imports run one way, from
 * commands down to util. Each top-level folder of src/ may import only the
 * folders listed for it; no file imports agent/ or commands/ from below, and
 * there is no import cycle between files.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import test from 'ava'

const SRC = fileURLToPath(new URL('../../src/', import.meta.url))

/** folder -> the folders it may import (besides itself) */
const ALLOWED: Record<string, readonly string[]> = {
  util: [],
  net: ['util'],
  core: ['util', 'net'],
  config: ['util', 'net', 'core', 'types'],
  rib: ['util', 'net', 'core', 'config'],
  kernel: ['util', 'net', 'core', 'config'],
  protocols: ['util', 'net', 'core', 'config', 'rib'],
  host: ['util', 'net', 'core', 'config', 'rib', 'kernel'],
  api: ['util', 'net', 'core', 'config', 'rib'],
  agent: ['util', 'net', 'core', 'config', 'rib', 'kernel', 'protocols', 'host', 'api'],
  doctor: ['util', 'net', 'core', 'config', 'rib', 'kernel', 'host', 'api'],
  lab: ['util', 'net', 'core', 'config', 'api'],
  'cli-support': ['util', 'net', 'core', 'config', 'rib', 'kernel', 'host', 'api'],
  commands: ['util', 'net', 'core', 'config', 'rib', 'kernel', 'protocols', 'host', 'api', 'agent', 'doctor', 'lab', 'cli-support'],
  types: [],
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n)
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : []
  })
}

/** relative import specifiers of a file, resolved to .ts paths under src/; `typeOnly`: `import type` / `export type` lines */
function importsOf(file: string, which: 'all' | 'runtime' = 'all'): string[] {
  const text = readFileSync(file, 'utf8')
  const out: string[] = []
  for (const m of text.matchAll(/^(?:(import|export)\s+(type\s)?[^'\n]*?from\s*|.*?import\s*\(\s*)'(\.{1,2}\/[^']+)'/gm)) {
    const spec = m[3]
    if (spec === undefined) continue
    if (which === 'runtime' && m[2] !== undefined) continue
    out.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')))
  }
  return out
}

const folderOf = (file: string): string => relative(SRC, file).split('/')[0] ?? ''

const all = files(SRC)
const graph = new Map(all.map((f) => [f, importsOf(f).filter((i) => i.startsWith(SRC))]))
/** the imports that load code (not `import type`): these must not form a cycle */
const runtime = new Map(all.map((f) => [f, importsOf(f, 'runtime').filter((i) => i.startsWith(SRC))]))

test('every src/ folder is in the dependency table', (t) => {
  const folders = new Set(all.map(folderOf).filter((f) => !f.endsWith('.ts')))
  t.deepEqual([...folders].filter((f) => !(f in ALLOWED)), [])
})

test('imports follow the dependency table (nothing below agent/ imports agent/ or commands/)', (t) => {
  const violations: string[] = []
  for (const [file, deps] of graph) {
    const from = folderOf(file)
    if (from.endsWith('.ts')) continue // entry points at src/ (cli.ts) may import anything
    const allowed = ALLOWED[from] ?? []
    for (const d of deps) {
      const to = folderOf(d)
      if (to !== from && !allowed.includes(to)) violations.push(`${relative(SRC, file)} -> ${relative(SRC, d)}`)
    }
  }
  t.deepEqual(violations, [])
})

test('only the CLI side imports @oclif/core', (t) => {
  const cli = new Set(['commands', 'cli-support', 'cli.ts'])
  const offenders = all.filter((f) => !cli.has(folderOf(f)) && /from '@oclif\/core'/.test(readFileSync(f, 'utf8')))
  t.deepEqual(offenders.map((f) => relative(SRC, f)), [])
})

test('no runtime import cycle between files (type-only references between two files of one folder are allowed)', (t) => {
  const cycles: string[] = []
  const state = new Map<string, 1 | 2>()
  const stack: string[] = []
  const visit = (f: string): void => {
    state.set(f, 1)
    stack.push(f)
    for (const d of runtime.get(f) ?? []) {
      const s = state.get(d)
      if (s === 1) cycles.push([...stack.slice(stack.indexOf(d)), d].map((x) => relative(SRC, x)).join(' -> '))
      else if (s === undefined && runtime.has(d)) visit(d)
    }
    stack.pop()
    state.set(f, 2)
  }
  for (const f of runtime.keys()) if (!state.has(f)) visit(f)
  t.deepEqual(cycles, [])
})

test('the rule itself catches a violation', (t) => {
  // a check that cannot fail is no check: the table must refuse rib -> agent
  t.false((ALLOWED.rib ?? []).includes('agent'))
  t.false((ALLOWED.protocols ?? []).includes('agent'))
  t.true(graph.size > 50)
})
