/** Run inside a test namespace by kernel.test.ts: prints readInterfaces() as JSON. */
import { readInterfaces } from '../../src/kernel/interfaces.js'

console.log(JSON.stringify(await readInterfaces()))
