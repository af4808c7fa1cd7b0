/** fabric's BGP speaker against BIRD 2 (started by the test in lab namespaces). */
import { interopSuite, startBird } from './helpers-bgp.js'

interopSuite('bird', startBird)
