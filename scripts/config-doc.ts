/**
 * Prints the [bgp], [peer.NAME] and [rip] key tables for docs/configuration.md
 * (test/unit/docs.test.ts fails when the docs differ):
 *   node --import tsx scripts/config-doc.ts
 */
import { configTables } from '../src/config/doc.js'

console.log(configTables())
