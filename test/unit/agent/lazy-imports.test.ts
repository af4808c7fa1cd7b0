/**
 * What an agent in mode bgp loads only when it needs it (each costs an idle
 * agent RSS; docs/benchmarks.md "bench/idle"): the BFD service
 * (node:worker_threads, when a source asks for BFD), prom-client (with --metrics-listen) and @oclif/core (not
 * for `fabric join` with plain flags), node:http (the control socket is
 * served over node:net; unix-http.ts loads it for Docker's API) and
 * node:crypto (ipam hashes an identity only to pick a subnet that is
 * neither configured nor persisted). Checked on the static import graph
 * of the sources (a dynamic `import()` is lazy; `import type` is erased):
 * under tsx the test process itself has these builtins loaded already.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import test from 'ava'
import { createHash } from 'node:crypto'
import { hashSlot } from '../../../src/host/ipam.js'
import { hashSlot6 } from '../../../src/host/ipam6.js'

const SRC = fileURLToPath(new URL('../../../src/', import.meta.url))

/**
 * the specifiers a file imports at load time (not `import type`, not an import whose names are all types, not `import()`),
 * and the CommonJS packages it loads at module level with util/cjs.ts's requireCjs
 */
function staticImports(text: string): string[] {
  return [...[...text.matchAll(/^(?:const|let) .*\brequireCjs\('([^']+)'\)/gm)].map((m) => m[1]!), ...esmImports(text)]
}

/** the specifiers of a file's load-time ESM imports */
function esmImports(text: string): string[] {
  const out: string[] = []
  for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?([\s\S]*?)\s*from\s*'([^']+)'|^import\s+'([^']+)'/gm)) {
    if (m[4] !== undefined) {
      out.push(m[4])
      continue
    }
    if (m[1] !== undefined) continue
    const names = /^\{([\s\S]*)\}$/.exec(m[2]!.trim())
    if (names && names[1]!.split(',').map((s) => s.trim()).filter(Boolean).every((s) => s.startsWith('type '))) continue
    out.push(m[3]!)
  }
  return out
}

/** every module and package reached from the entries by static imports */
function reach(entries: string[]): Map<string, string> {
  const seen = new Map<string, string>()
  const visit = (file: string, from: string): void => {
    if (seen.has(file)) return
    seen.set(file, from)
    if (!file.endsWith('.ts')) return
    for (const spec of staticImports(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')), file)
      else if (!seen.has(spec)) seen.set(spec, file)
    }
  }
  for (const e of entries) visit(resolve(SRC, e), 'entry')
  return seen
}

test('staticImports: type-only and dynamic imports are not load-time imports', (t) => {
  const text = [
    "import { a, type B } from './a.js'",
    "import type { C } from './c.js'",
    "import { type D, type E } from 'node:crypto'",
    "import {\n  f,\n  g,\n} from './fg.js'",
    "export { h } from './h.js'",
    "import './side.js'",
    "const x = await import('prom-client')",
    "const { RawNetlinkSocket } = requireCjs('netlink/dist/raw.js') as typeof import('netlink/dist/raw.js')",
  ].join('\n')
  t.deepEqual(staticImports(text), ['netlink/dist/raw.js', './a.js', './fg.js', './h.js', './side.js'])
})

test('fabric join in mode bgp: worker_threads, prom-client, @oclif/core, node:http and node:crypto are not loaded at start', (t) => {
  const r = reach(['cli.ts', 'commands/join-main.ts', 'agent/agent.ts', 'protocols/bgp/source.ts'])
  t.true(r.has('node:net') && r.has('netlink/dist/raw.js'), 'the walk sees what the agent does load')
  for (const m of ['node:worker_threads', 'prom-client', '@oclif/core', 'node:http', 'node:crypto']) {
    t.false(r.has(m), `${m} is imported by ${r.get(m)?.replace(SRC, 'src/')}`)
  }
})

test('hashSlot and hashSlot6, which load node:crypto on first use, are still the SHA-256 slots', (t) => {
  for (const id of ['', 'node1', 'machine-id:10.0.0.1', 'x'.repeat(300)]) {
    const h = createHash('sha256').update(id).digest()
    t.is(hashSlot(id, 1 << 16), h.readUIntBE(0, 6) % (1 << 16), id)
    t.is(hashSlot6(id, 1n << 40n), BigInt(`0x${h.subarray(0, 16).toString('hex')}`) % (1n << 40n), id)
  }
})

test('the CommonJS packages (netlink, conf-cfg-ini) are loaded with require, not imported as ES modules', (t) => {
  // an ESM import of CommonJS runs cjs-module-lexer over the package and keeps a facade: ~1 MB of an idle agent
  const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  t.true(files.length > 50)
  for (const f of files) {
    for (const spec of esmImports(readFileSync(resolve(SRC, f), 'utf8'))) {
      t.false(/^(netlink|conf-cfg-ini)(\/|$)/.test(spec), `src/${f} imports ${spec}: load it with requireCjs (util/cjs.ts)`)
    }
  }
})
