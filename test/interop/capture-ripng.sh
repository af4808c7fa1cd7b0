#!/usr/bin/env bash
# Captures real RIPng (RFC 2080) packets from BIRD 2 (`protocol rip ng`) and
# FRR ripngd, and checks that fabric's RipngSource (src/protocols/ripng)
# interoperates with both, on one private L2 segment:
#
#   ns rngcap<PID>-b: bridge rngcap<PID>-br fe80::1, 2001:db8:ff::1/64, BIRD
#   ns rngcap<PID>-f: veth fe80::2, 2001:db8:ff::2/64, FRR zebra + ripngd
#   ns rngcap<PID>-x: veth fe80::3, 2001:db8:ff::3/64, fabric's RipngSource
#                     (real UDP 521 transport, ff02::9, the ip6tables
#                     hop-limit rule in that namespace)
#
# Announced: BIRD fd00:fab:0:1::/64 and fd00:fab:0:9::/64 (tag 77), FRR
# fd00:fab:0:2::/64, fabric fd00:fab:0:3::/64 (pool6 fd00:fab::/48).
# UDP payloads go to test/fixtures/ripng/bird2-frr8.json as hex with the
# sender, source address, hop limit, and what each speaker learned.
#
# Safety: everything lives in namespaces rngcap<PID>-*, addresses only inside
# them; nothing is configured or sent in the root namespace. Namespaces,
# daemons (by pid) and files are removed on exit, also on failure.
# Usage: sudo test/interop/capture-ripng.sh [OUTDIR]
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
OUT="${1:-$REPO/test/fixtures/ripng}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
SECS="${RIPNGCAP_SECONDS:-16}"

P="rngcap$$"
NS_B="$P-b"; NS_F="$P-f"; NS_X="$P-x"
BR="$P-br"; VB_F="$P-bf"; VF="$P-vf"; VB_X="$P-bx"; VX="$P-vx"
WORK="$(mktemp -d "/tmp/$P.XXXXXX")"
FRR_NAME="$P"
FRR_RUN="/var/run/frr/$FRR_NAME"
PIDS=()

for tool in bird birdc tcpdump node ip vtysh ip6tables-save; do
  command -v "$tool" >/dev/null || { echo "capture-ripng: $tool is not installed" >&2; exit 1; }
done
[ -x /usr/lib/frr/ripngd ] && [ -x /usr/lib/frr/zebra ] || { echo "capture-ripng: FRR (ripngd, zebra) is not installed" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "capture-ripng: needs root (network namespaces)" >&2; exit 1; }

cleanup() {
  set +e
  local f pid
  for f in "$WORK"/*.pid "$FRR_RUN"/*.pid; do
    [ -f "$f" ] || continue
    pid="$(cat "$f" 2>/dev/null)"; [ -n "$pid" ] && kill "$pid" 2>/dev/null
  done
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && wait "$pid" 2>/dev/null; done
  sleep 0.3
  ip netns del "$NS_B" 2>/dev/null; ip netns del "$NS_F" 2>/dev/null; ip netns del "$NS_X" 2>/dev/null
  rm -rf "$WORK" "$FRR_RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for ns in "$NS_B" "$NS_F" "$NS_X"; do
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
done
ip -n "$NS_B" link add "$BR" type bridge mcast_snooping 0
ip link add "$VB_F" netns "$NS_B" type veth peer name "$VF" netns "$NS_F"
ip link add "$VB_X" netns "$NS_B" type veth peer name "$VX" netns "$NS_X"
ip -n "$NS_B" link set "$VB_F" master "$BR"
ip -n "$NS_B" link set "$VB_X" master "$BR"
# explicit link-local addresses (no DAD) so the fixture's addresses are stable
for spec in "$NS_B $BR 1" "$NS_F $VF 2" "$NS_X $VX 3"; do
  set -- $spec
  ip -n "$1" link set "$2" addrgenmode none
  ip -n "$1" addr add "fe80::$3/64" dev "$2" nodad
  ip -n "$1" addr add "2001:db8:ff::$3/64" dev "$2" nodad
done
for l in "$BR" "$VB_F" "$VB_X"; do ip -n "$NS_B" link set "$l" up; done
ip -n "$NS_F" link set "$VF" up
ip -n "$NS_X" link set "$VX" up

mkdir -p "$FRR_RUN"; chown frr:frr "$FRR_RUN" "$WORK"; chmod 755 "$WORK"

cat >"$WORK/bird.conf" <<BIRD
router id 10.255.1.1;
log "$WORK/bird.log" all;
protocol device { scan time 1; }
protocol static { ipv6; route fd00:fab:0:1::/64 blackhole; route fd00:fab:0:9::/64 blackhole { rip_tag = 77; }; }
protocol rip ng rip1 {
  ipv6 { import all; export all; };
  interface "$BR" { update time 5; };
}
BIRD
cat >"$WORK/zebra.conf" <<FRR
hostname $P-zebra
log file $WORK/zebra.log
FRR
cat >"$WORK/ripngd.conf" <<FRR
hostname $P-ripngd
log file $WORK/ripngd.log
router ripng
 network $VF
 route fd00:fab:0:2::/64
 timers basic 5 30 20
!
FRR
chown frr:frr "$WORK"/*.conf

# fabric's side: RipngSource with the real transport, for `seconds`; writes what it learned
cat >"$WORK/fabric-peer.mts" <<TS
import { writeFileSync } from 'node:fs'
import { RipngSource } from '$REPO/src/protocols/ripng/source.js'
import { hopLimitDrops } from '$REPO/src/protocols/ripng/hop-limit.js'
import { readInterfaces } from '$REPO/src/kernel/interfaces.js'
const [iface, seconds, outPath] = process.argv.slice(2)
const learned = new Map<string, string>()
const log = { info: (e: string, f?: unknown) => console.error(e, JSON.stringify(f ?? {})), warn: (e: string, f?: unknown) => console.error(e, JSON.stringify(f ?? {})), debug: () => {} }
const src = new RipngSource({
  interface: iface!, interfaces: await readInterfaces(), pool6: { addr: 'fd00:fab::', len: 48 }, subnet6: { addr: 'fd00:fab:0:3::', len: 64 },
  timers: { update: 5000, timeout: 30000, garbage: 20000, triggeredMin: 200, triggeredMax: 500 }, log,
})
await src.start({
  add: (r) => learned.set(\`\${r.prefix.addr}/\${r.prefix.len}\`, \`via \${r.nextHop} dev \${r.interface} metric \${r.metric} tag \${r.attrs?.tag ?? 0}\`),
  withdraw: (p) => learned.delete(\`\${p.addr}/\${p.len}\`),
  withdrawPeer: () => 0,
})
setTimeout(async () => {
  const report = { learned: Object.fromEntries(learned), stats: src.stats(), hopLimitDrops: await hopLimitDrops(521) }
  await src.leave()
  writeFileSync(outPath!, JSON.stringify(report))
}, Number(seconds) * 1000)
TS

echo "capture-ripng: capturing (${SECS}s)" >&2
ip netns exec "$NS_B" tcpdump -i "$BR" -U -n -s 0 -w "$WORK/ripng.pcap" udp port 521 2>/dev/null &
PIDS+=("$!")
sleep 1
ip netns exec "$NS_B" bird -c "$WORK/bird.conf" -s "$WORK/bird.ctl" -P "$WORK/bird.pid"
ip netns exec "$NS_F" /usr/lib/frr/zebra -N "$FRR_NAME" -d -f "$WORK/zebra.conf" -i "$FRR_RUN/zebra.pid"
for _ in $(seq 1 50); do [ -S "$FRR_RUN/zserv.api" ] && break; sleep 0.1; done
ip netns exec "$NS_F" /usr/lib/frr/ripngd -N "$FRR_NAME" -d -f "$WORK/ripngd.conf" -i "$FRR_RUN/ripngd.pid"
(cd "$REPO" && exec ip netns exec "$NS_X" node --import tsx "$WORK/fabric-peer.mts" "$VX" "$SECS" "$WORK/fabric.json") &
PIDS+=("$!")
sleep "$SECS"
ip netns exec "$NS_B" birdc -s "$WORK/bird.ctl" show route protocol rip1 >"$WORK/bird-routes" 2>&1 || true
vtysh -N "$FRR_NAME" -c "show ipv6 ripng" >"$WORK/frr-routes" 2>&1 || true
for _ in $(seq 1 100); do [ -s "$WORK/fabric.json" ] && break; sleep 0.1; done
ip netns exec "$NS_X" ip6tables-save -t raw | grep -c FABRIC-RIPNG >"$WORK/rule-lines" || true
sleep 1

cat >"$WORK/extract.mjs" <<'EXTRACT'
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
const [pcapPath, outPath, work, birdVer, frrVer] = process.argv.slice(2)
const SENDERS = { 'fe80::1': 'bird', 'fe80::2': 'frr', 'fe80::3': 'fabric' }
const MAX_PER_KIND = 4
const buf = readFileSync(pcapPath)
if (buf.readUInt32LE(20) !== 1) throw new Error('not Ethernet')
const v6 = (b, o) => { const g = []; for (let i = 0; i < 16; i += 2) g.push(b.readUInt16BE(o + i).toString(16)); return g.join(':').replace(/(^|:)0(:0)+(:|$)/, '::').replace(/:::+/, '::') }
const packets = []; const seen = new Set(); const perKind = new Map()
for (let off = 24; off + 16 <= buf.length; ) {
  const caplen = buf.readUInt32LE(off + 8)
  const frame = buf.subarray(off + 16, off + 16 + caplen)
  off += 16 + caplen
  if (frame.length < 14 + 40 + 8 || frame.readUInt16BE(12) !== 0x86dd) continue
  const ip = frame.subarray(14)
  if (ip[6] !== 17) continue
  const udp = ip.subarray(40)
  const payload = udp.subarray(8, udp.readUInt16BE(4))
  const from = v6(ip, 8)
  const sender = SENDERS[from] ?? 'unknown'
  const command = payload[0] === 1 ? 'request' : payload[0] === 2 ? 'response' : `command-${payload[0]}`
  const hex = payload.toString('hex')
  if (seen.has(sender + hex)) continue
  seen.add(sender + hex)
  const kind = `${sender}/${command}`
  const n = perKind.get(kind) ?? 0
  if (n >= MAX_PER_KIND) continue
  perKind.set(kind, n + 1)
  packets.push({ sender, from, to: v6(ip, 24), hopLimit: ip[7], srcPort: udp.readUInt16BE(0), dstPort: udp.readUInt16BE(2), command, hex })
}
const lines = (p) => (existsSync(p) ? readFileSync(p, 'utf8').trim().split('\n').map((l) => l.replace(/rngcap\d+/g, 'rngcap')) : [])
const fabric = existsSync(`${work}/fabric.json`) ? JSON.parse(readFileSync(`${work}/fabric.json`, 'utf8')) : null
writeFileSync(outPath, JSON.stringify({
  scenario: 'bird2-frr8', captured: 'test/interop/capture-ripng.sh', daemons: { bird: birdVer, frr: frrVer },
  announced: { bird: ['fd00:fab:0:1::/64', 'fd00:fab:0:9::/64 (tag 77)'], frr: ['fd00:fab:0:2::/64'], fabric: ['fd00:fab:0:3::/64'] },
  learned: { bird: lines(`${work}/bird-routes`), frr: lines(`${work}/frr-routes`), fabric },
  hopLimitRuleInstalled: Number(readFileSync(`${work}/rule-lines`, 'utf8').trim() || 0) >= 2,
  packets,
}, null, 2) + '\n')
console.error(`capture-ripng: ${outPath}: ${packets.length} packets (${[...perKind].map(([k, v]) => `${k} ${v}`).join(', ')})`)
EXTRACT
kill "${PIDS[0]}" 2>/dev/null || true; sleep 0.5
node "$WORK/extract.mjs" "$WORK/ripng.pcap" "$OUT/bird2-frr8.json" "$WORK" "$(bird --version 2>&1 | awk '{print $NF}')" "$(/usr/lib/frr/ripngd --version 2>&1 | awk 'NR==1{print $NF}')"
[ -f "$WORK/fabric.json" ] || { echo "capture-ripng: fabric peer wrote no report" >&2; cat "$WORK"/*.log >&2 || true; }
