/** Graceful restart (RFC 4724) between fabric and bird, both directions (gr-helpers.ts). */
import { grSuite } from './gr-helpers.js'

grSuite('bird')
