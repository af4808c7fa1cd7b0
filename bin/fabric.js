#!/usr/bin/env node
// Entry point of the `fabric` CLI (CommonJS: bin/package.json). In a checkout
// (src/ present and tsx installed) it runs the TypeScript sources through tsx,
// so a fresh clone works after `npm ci` with no build step and never runs a
// stale build. An installed package or the agent image (built with `npm run
// build`, dev dependencies omitted) runs the compiled dist/: `fabric join` the
// one-file CommonJS bundle dist/cli.cjs (no ESM loader in the long-running
// agent: scripts/bundle-agent.mjs), every other command dist/cli.js.
'use strict'
const { existsSync, statSync } = require('node:fs')
const { join } = require('node:path')

const root = join(__dirname, '..')
const argv = process.argv.slice(2)
const hasSource = existsSync(join(root, 'src', 'cli.ts'))
let tsx = false
if (hasSource && process.env.FABRIC_USE_DIST !== '1') {
  try {
    require.resolve('tsx/esm/api')
    tsx = true
  } catch {
    tsx = false
  }
}

/** dist/cli.cjs exists and was built after dist/cli.js (a bare `tsc` build leaves an older bundle: not used) */
function bundleFresh() {
  try {
    return statSync(join(root, 'dist', 'cli.cjs')).mtimeMs >= statSync(join(root, 'dist', 'cli.js')).mtimeMs
  } catch {
    return false
  }
}

async function run() {
  if (tsx) {
    const { register } = await import('tsx/esm/api')
    register()
    return (await import('../src/cli.ts')).main(argv)
  }
  if (argv[0] === 'join' && bundleFresh()) return require('../dist/cli.cjs').main(argv)
  return (await import('../dist/cli.js')).main(argv)
}

run().catch((e) => {
  process.stderr.write(`${e?.stack ?? e}\n`)
  process.exitCode = 1
})
