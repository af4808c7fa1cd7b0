/** Constants the FSM uses, re-exported from the codec. */
export { AFI_IPV4, AS_TRANS, CeaseSubcode, ErrorCode, FsmSubcode, OpenSubcode, SAFI_UNICAST } from './codec/constants.js'

/** Hold Timer Expired has no subcodes. */
export const HoldTimerSubcodeNone = 0
