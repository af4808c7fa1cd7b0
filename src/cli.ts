import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/**
 * Runs the oclif CLI with the given argv (without node and script).
 * Commands are listed explicitly in commands/index; when running from the
 * TypeScript sources (no build), oclif is pointed at the .ts index.
 *
 * `fabric join` with nothing but known flags and valid values starts the
 * agent without loading oclif (commands/join-main.ts): the long-running
 * process is ~8 MB smaller for it. Help, errors and every other command go
 * through oclif.
 */
export async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'join') {
    const { joinDirect } = await import('./commands/join-main.js')
    try {
      if (await joinDirect(argv.slice(1))) return
    } catch (error) {
      const { handle } = await import('@oclif/core')
      await handle(error as Error)
    }
  }
  const { Config, flush, handle, run } = await import('@oclif/core')
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
