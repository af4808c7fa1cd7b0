/**
 * The route sources, one per mode: a typed registry instead of an import by
 * name. Each lives in src/protocols/<mode>/source.ts and exports createSource.
 */
import type { Mode } from '../config/fabric-config.js'
import { createSource as bgp } from '../protocols/bgp/source.js'
import { createSource as rip } from '../protocols/rip/source.js'
import { createSource as staticSource } from '../protocols/static/source.js'
import type { CreateSource } from '../rib/source.js'

export const SOURCES: Readonly<Record<Mode, CreateSource>> = { static: staticSource, rip, bgp }
