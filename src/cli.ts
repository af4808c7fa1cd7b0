import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Config, flush, handle, run } from '@oclif/core'

/**
 * Runs the oclif CLI with the given argv (without node and script).
 * Commands are listed explicitly in commands/index; when running from the
 * TypeScript sources (no build), oclif is pointed at the .ts index.
 */
export async function main(argv: string[]): Promise<void> {
  const fromSource = import.meta.url.endsWith('.ts')
  const root = fileURLToPath(new URL('../', import.meta.url))
  const pjson = JSON.parse(readFileSync(`${root}/package.json`, 'utf8'))
  if (fromSource) pjson.oclif.commands.target = './src/commands/index.ts'
  try {
    const config = await Config.load({ root, pjson })
    await run(argv, config)
    await flush()
  } catch (error) {
    await handle(error as Error)
  }
}
