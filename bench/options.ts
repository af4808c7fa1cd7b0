/** What several benchmarks start with: their `--name VALUE` options and the compiled agent they run. */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** the repository's root directory, with a trailing slash */
export const repo = fileURLToPath(new URL('../', import.meta.url))

/** The value after `--name` on the command line, or dflt. */
export function option(name: string, dflt: string): string {
  const args = process.argv.slice(2)
  const i = args.indexOf(`--${name}`)
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt
}

/** Exits (2) unless dist/ is built; then agents and CLI started from here run it (FABRIC_USE_DIST=1). */
export function useCompiledAgent(bench: string, what = 'the compiled agent'): void {
  if (!existsSync(`${repo}dist/cli.js`)) {
    process.stderr.write(`${bench} runs ${what}: run \`npm run build\` first\n`)
    process.exit(2)
  }
  process.env.FABRIC_USE_DIST = '1'
}
