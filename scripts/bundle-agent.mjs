// Part of `npm run build`, after tsc: the compiled CLI (dist/cli.js and every
// module it imports, dynamic imports included) bundled into one CommonJS file,
// dist/cli.cjs, which bin/fabric.js runs for `fabric join`. A CommonJS entry
// keeps Node's ESM loader (~40 builtin modules, ~2.9 MB of RSS) out of the
// agent, and one minified file is ~1 MB less heap than ~100 modules with
// their source text (docs/benchmarks.md "bench/idle"). Every other command
// runs dist/cli.js (ESM) as before. netlink (a native addon), prom-client
// (loaded with --metrics-listen only) and @oclif/core stay packages.
import { readFile } from 'node:fs/promises'
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const dist = fileURLToPath(new URL('../dist/', import.meta.url))

/** `import.meta.url` of each compiled module, as the URL of its own dist/ file (templates, package.json and the BFD worker are found relative to it) */
const importMetaUrl = {
  name: 'import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, async (args) => {
      if (!args.path.startsWith(dist)) return undefined
      const text = await readFile(args.path, 'utf8')
      const own = `require('node:url').pathToFileURL(__dirname + ${JSON.stringify(`/${relative(dist, args.path)}`)}).href`
      const resolve = "((s) => require('node:url').pathToFileURL(require.resolve(s)).href)"
      return { contents: text.replaceAll('import.meta.url', own).replaceAll('import.meta.resolve', resolve), loader: 'js' }
    })
  },
}

await build({
  entryPoints: [`${dist}cli.js`],
  outfile: `${dist}cli.cjs`,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external: ['netlink', 'netlink/*', 'prom-client', '@oclif/core'],
  minify: true,
  keepNames: true,
  legalComments: 'none',
  sourcemap: 'external',
  logLevel: 'warning',
  plugins: [importMetaUrl],
})
