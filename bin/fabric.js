#!/usr/bin/env node
// Entry point of the `fabric` CLI. In a checkout (src/ present and tsx
// installed) it runs the TypeScript sources through tsx, so a fresh clone works
// after `npm ci` with no build step and never runs a stale build. An installed
// package or the agent image (built with `npm run build`, dev dependencies
// omitted) runs the compiled dist/.
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const root = new URL('../', import.meta.url)
const hasSource = existsSync(fileURLToPath(new URL('src/cli.ts', root)))
let tsx
if (hasSource && process.env.FABRIC_USE_DIST !== '1') {
  try {
    tsx = createRequire(import.meta.url).resolve('tsx/esm/api')
  } catch {
    tsx = undefined
  }
}
if (tsx) {
  const { register } = await import('tsx/esm/api')
  register()
}
const { main } = await import(tsx ? '../src/cli.ts' : '../dist/cli.js')
await main(process.argv.slice(2))
