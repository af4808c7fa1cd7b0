#!/usr/bin/env node
// Entry point of the `fabric` CLI. Runs the compiled build (dist/) when it
// exists, otherwise the TypeScript sources through tsx, so a fresh clone works
// after `npm ci` with no build step.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = new URL('../', import.meta.url)
const built = existsSync(fileURLToPath(new URL('dist/cli.js', root)))
if (!built) {
  const { register } = await import('tsx/esm/api')
  register()
}
const { main } = await import(built ? '../dist/cli.js' : '../src/cli.ts')
await main(process.argv.slice(2))
