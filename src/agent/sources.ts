/**
 * The route sources, one per mode: a typed registry instead of an import by
 * name. Each lives in src/protocols/<mode>/source.ts and exports createSource;
 * only the configured mode's module is loaded (an agent in BGP mode does not
 * carry the RIP engine in its memory, and so on). The registry stays typed:
 * a mode without an entry, or a module whose createSource does not fit, is a
 * compile error.
 */
import type { Mode } from '../config/fabric-config.js'
import type { CreateSource } from '../rib/source.js'

export const SOURCES: Readonly<Record<Mode, CreateSource>> = {
  static: async (ctx) => (await import('../protocols/static/source.js')).createSource(ctx),
  rip: async (ctx) => (await import('../protocols/rip/source.js')).createSource(ctx),
  bgp: async (ctx) => (await import('../protocols/bgp/source.js')).createSource(ctx),
}
