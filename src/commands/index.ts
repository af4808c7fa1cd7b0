import Doctor from './doctor.js'
import Join from './join.js'
import LabDemo from './lab/demo.js'
import LabDown from './lab/down.js'
import LabStatus from './lab/status.js'
import LabUp from './lab/up.js'
import Leave from './leave.js'
import Peers from './peers.js'
import Routes from './routes.js'
import Status from './status.js'

/** Every command, for oclif's explicit command discovery. */
export const COMMANDS = {
  join: Join,
  routes: Routes,
  peers: Peers,
  status: Status,
  leave: Leave,
  doctor: Doctor,
  'lab:up': LabUp,
  'lab:down': LabDown,
  'lab:status': LabStatus,
  'lab:demo': LabDemo,
}
