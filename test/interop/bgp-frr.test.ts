/** fabric's BGP speaker against FRR 8 (zebra + bgpd, started by the test in lab namespaces). */
import { interopSuite, startFrr } from './helpers-bgp.js'

interopSuite('frr', startFrr)
