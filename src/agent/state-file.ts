/** The agent's side of state.json (src/api/state-file.ts reads it). */
import { rmSync, writeFileSync } from 'node:fs'
import { type StateFile, stateFilePath } from '../api/state-file.js'

export function writeStateFile(stateDir: string, state: StateFile): void {
  writeFileSync(stateFilePath(stateDir), `${JSON.stringify(state, null, 2)}\n`)
}

export function removeStateFile(stateDir: string): void {
  rmSync(stateFilePath(stateDir), { force: true })
}
