/**
 * CommonJS packages (netlink, conf-cfg-ini) loaded by Node's require, not
 * by an ESM `import`: an import of CommonJS makes Node read each module's
 * source with its export lexer (cjs-module-lexer) and keep an ES module
 * facade for it, 0.35-0.45 MB of an idle agent's RSS for two small packages
 * (docs/benchmarks.md, bench/rss). The types still come from the
 * packages (`import type`). Also the way to load a builtin on first use
 * from synchronous code (ipam's node:crypto).
 */
import { createRequire } from 'node:module'

export const requireCjs = createRequire(import.meta.url)
