/** BFD with BGP between fabric and bird: a dead host noticed in < 1 s both ways (gr-helpers.ts). */
import { bfdBgpSuite } from './gr-helpers.js'

bfdBgpSuite('bird')
