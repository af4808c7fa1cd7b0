import { labDown } from '/work/wt/fuzz/src/lab/lab.js'
import { runCampaign } from '/work/wt/fuzz/test/fuzz/campaign.js'
const name = `fz${process.pid % 10000}`
process.on('SIGINT', () => { void labDown(name).then(() => process.exit(130)) })
try {
  const r = await runCampaign({ name, protocol: (process.argv[2] ?? 'bgp') as 'bgp', seed: Number(process.argv[3] ?? 1), messages: Number(process.argv[4] ?? 2000), ripAuth: (process.argv[5] ?? 'none') as 'none', log: (l) => console.log(l) })
  console.log(JSON.stringify({ ...r, findings: r.findings.map((f) => ({ ...f, recent: f.recent?.map((x) => ({ ...x, hex: x.hex.slice(0, 120) })) })) }, null, 1).slice(0, 20000))
} finally {
  await labDown(name)
}
