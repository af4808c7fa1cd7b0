#!/usr/bin/env bash
# Captures real RIPv2 packets from BIRD 2 and FRR ripd, and checks that
# fabric's own RIP engine interoperates with both, on one private L2 segment:
#
#   ns ripcap<PID>-b: bridge ripcap<PID>-br 10.255.1.1/24, BIRD
#   ns ripcap<PID>-f: veth 10.255.1.2/24, FRR zebra + ripd
#   ns ripcap<PID>-x: veth 10.255.1.3/24, fabric's RipEngine over a tiny UDP loop
#
# Scenarios: no auth, simple password, keyed MD5 (FRR default auth length;
# fabric sends 20), keyed MD5 with FRR "auth-length rfc" (fabric sends 16),
# HMAC-SHA-256 (BIRD and fabric; FRR ripd has no SHA and stays unauthenticated).
# UDP payloads go to test/fixtures/rip/<scenario>.json as hex, with the
# sender, the keys, and what each speaker learned from the others.
#
# Safety: everything lives in namespaces named ripcap<PID>-*, with addresses
# in 10.255.1.0/24 inside them; nothing is configured or sent in the root
# namespace. Every namespace, daemon (by pid) and file is removed on exit,
# also on failure or Ctrl-C.
#
# Needs root, bird2, frr, tcpdump, node + the repo's node_modules (tsx).
# Usage: sudo test/interop/capture-rip.sh [OUTDIR]
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
OUT="${1:-$REPO/test/fixtures/rip}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
SECS="${RIPCAP_SECONDS:-16}"

P="ripcap$$"
NS_B="$P-b"          # BIRD
NS_F="$P-f"          # FRR
NS_X="$P-x"          # fabric
BR="$P-br"           # interface names <= 15 chars
VB_F="$P-bf"; VF="$P-vf"
VB_X="$P-bx"; VX="$P-vx"
ADDR_B=10.255.1.1
ADDR_F=10.255.1.2
ADDR_X=10.255.1.3
WORK="$(mktemp -d "/tmp/$P.XXXXXX")"
FRR_NAME="$P"
FRR_RUN="/var/run/frr/$FRR_NAME"
PIDS=()

for tool in bird birdc tcpdump node ip vtysh; do
  command -v "$tool" >/dev/null || { echo "capture-rip: $tool is not installed" >&2; exit 1; }
done
[ -x /usr/lib/frr/ripd ] && [ -x /usr/lib/frr/zebra ] || { echo "capture-rip: FRR (ripd, zebra) is not installed" >&2; exit 1; }
[ -d "$REPO/node_modules/tsx" ] || { echo "capture-rip: run npm install first (tsx)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "capture-rip: needs root (network namespaces)" >&2; exit 1; }

stop_daemons() {
  local pid f
  for f in "$WORK"/*.pid "$FRR_RUN"/*.pid; do
    [ -f "$f" ] || continue
    pid="$(cat "$f" 2>/dev/null || true)"
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    rm -f "$f"
  done
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  done
  PIDS=()
  sleep 0.5
}

cleanup() {
  set +e
  stop_daemons
  ip netns del "$NS_B" 2>/dev/null
  ip netns del "$NS_F" 2>/dev/null
  ip netns del "$NS_X" 2>/dev/null
  rm -rf "$WORK" "$FRR_RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$NS_B"
ip netns add "$NS_F"
ip netns add "$NS_X"
for ns in "$NS_B" "$NS_F" "$NS_X"; do ip -n "$ns" link set lo up; done
ip -n "$NS_B" link add "$BR" type bridge
ip link add "$VB_F" netns "$NS_B" type veth peer name "$VF" netns "$NS_F"
ip link add "$VB_X" netns "$NS_B" type veth peer name "$VX" netns "$NS_X"
ip -n "$NS_B" link set "$VB_F" master "$BR"
ip -n "$NS_B" link set "$VB_X" master "$BR"
ip -n "$NS_B" addr add "$ADDR_B/24" dev "$BR"
ip -n "$NS_F" addr add "$ADDR_F/24" dev "$VF"
ip -n "$NS_X" addr add "$ADDR_X/24" dev "$VX"
for l in "$BR" "$VB_F" "$VB_X"; do ip -n "$NS_B" link set "$l" up; done
ip -n "$NS_F" link set "$VF" up
ip -n "$NS_X" link set "$VX" up
# multicast 224.0.0.9 leaves through the segment in fabric's namespace
ip -n "$NS_X" route add 224.0.0.0/4 dev "$VX"

mkdir -p "$FRR_RUN"
chown frr:frr "$FRR_RUN" "$WORK"
chmod 755 "$WORK"

# $1 = BIRD authentication lines (inside interface {})
write_bird_conf() {
  cat >"$WORK/bird.conf" <<EOF
router id $ADDR_B;
log "$WORK/bird.log" all;
protocol device { scan time 1; }
protocol static { ipv4; route 10.244.1.0/24 blackhole; route 10.244.9.0/24 blackhole { rip_tag = 77; }; }
protocol rip rip1 {
  ipv4 { import all; export all; };
  interface "$BR" {
    version 2;
    update time 5;
    $1
  };
}
EOF
}

# $1 = FRR interface auth lines, $2 = key chain block
write_frr_conf() {
  cat >"$WORK/zebra.conf" <<EOF
hostname $P-zebra
log file $WORK/zebra.log
EOF
  cat >"$WORK/ripd.conf" <<EOF
hostname $P-ripd
log file $WORK/ripd.log
$2
interface $VF
$1
!
router rip
 version 2
 network $VF
 route 10.244.2.0/24
 timers basic 5 30 20
!
EOF
  chown frr:frr "$WORK"/*.conf
}

# fabric's side: RipEngine (src/protocols/rip) over a UDP socket, for `seconds`;
# prints the routes it learned as JSON on exit
cat >"$WORK/fabric-peer.ts" <<EOF
import { createSocket } from 'node:dgram'
import { writeFileSync } from 'node:fs'
import { RipEngine, type RipAction } from '$REPO/src/protocols/rip/engine.js'
import { formatAddress, formatPrefix, parseAddress } from '$REPO/src/net/ipv4.js'

const [addrText, iface, authJson, md5Len, seconds, outPath] = process.argv.slice(2)
const addr = parseAddress(addrText!)
if (!addr.ok) throw new Error(addr.error)
const keys = JSON.parse(authJson!).keys
const engine = new RipEngine({
  interfaces: [{ name: iface!, address: addr.value, subnet: { addr: (addr.value & 0xffffff00) >>> 0, len: 24 }, ...(keys.length ? { auth: { keys, md5AuthDataLength: Number(md5Len) as 16 | 20 } } : {}) }],
  now: () => Date.now(),
  random: Math.random,
  allowed: [{ addr: 0x0af40000, len: 16 }],
  timers: { update: 5000, triggeredMin: 200, triggeredMax: 500 },
})
const learned = new Map<string, string>()
const sock = createSocket({ type: 'udp4', reuseAddr: true })
let timer: NodeJS.Timeout | undefined
function run(actions: RipAction[]): void {
  for (const a of actions) {
    if (a.type === 'send') {
      const to = a.to.kind === 'multicast' ? '224.0.0.9' : formatAddress(a.to.address)
      sock.send(a.bytes, a.to.kind === 'multicast' ? 520 : a.to.port, to)
    } else if (a.type === 'route-add') learned.set(formatPrefix(a.route.prefix), \`via \${a.route.peer} metric \${a.route.metric} tag \${a.route.attrs?.tag ?? 0}\`)
    else if (a.type === 'route-withdraw') learned.delete(formatPrefix(a.route.prefix))
    else if (a.type === 'timer') {
      if (timer) clearTimeout(timer)
      timer = setTimeout(() => run(engine.tick()), Math.max(0, a.at - Date.now()))
    }
  }
}
sock.on('message', (msg, rinfo) => {
  const from = parseAddress(rinfo.address)
  if (from.ok) run(engine.receive({ from: from.value, port: rinfo.port, interface: iface!, bytes: msg }))
})
sock.bind(520, () => {
  sock.addMembership('224.0.0.9', addrText)
  sock.setMulticastInterface(addrText!)
  sock.setMulticastTTL(1)
  sock.setMulticastLoopback(false)
  engine.setLocalRoutes([{ prefix: { addr: 0x0af40300, len: 24 }, tag: 5 }])
  run(engine.start())
})
setTimeout(() => {
  const report = JSON.stringify({ learned: Object.fromEntries(learned), counters: engine.counters() })
  run(engine.shutdown())
  if (timer) clearTimeout(timer)
  writeFileSync(outPath!, report)
  setTimeout(() => sock.close(), 200)
}, Number(seconds) * 1000)
EOF

start_all() {
  ip netns exec "$NS_B" bird -c "$WORK/bird.conf" -s "$WORK/bird.ctl" -P "$WORK/bird.pid"
  ip netns exec "$NS_F" /usr/lib/frr/zebra -N "$FRR_NAME" -d -f "$WORK/zebra.conf" -i "$FRR_RUN/zebra.pid"
  for _ in $(seq 1 50); do [ -S "$FRR_RUN/zserv.api" ] && break; sleep 0.1; done
  ip netns exec "$NS_F" /usr/lib/frr/ripd -N "$FRR_NAME" -d -f "$WORK/ripd.conf" -i "$FRR_RUN/ripd.pid"
}

# $1 scenario, $2 description, $3 auth JSON, $4 MD5 auth data length fabric sends
capture() {
  local name="$1"
  echo "capture-rip: $name (${SECS}s)" >&2
  ip netns exec "$NS_B" tcpdump -i "$BR" -U -n -s 0 -w "$WORK/$name.pcap" udp port 520 2>/dev/null &
  PIDS+=("$!")
  sleep 1
  start_all
  (cd "$REPO" && exec ip netns exec "$NS_X" node --import tsx "$WORK/fabric-peer.ts" "$ADDR_X" "$VX" "$3" "$4" "$((SECS + 1))" "$WORK/$name.fabric.json") &
  PIDS+=("$!")
  sleep "$SECS"
  ip netns exec "$NS_B" birdc -s "$WORK/bird.ctl" show route protocol rip1 >"$WORK/$name.bird-routes" 2>&1 || true
  vtysh -N "$FRR_NAME" -c "show ip rip" >"$WORK/$name.frr-routes" 2>&1 || true
  # fabric shuts down (poisoning its route) and writes its report
  for _ in $(seq 1 100); do [ -s "$WORK/$name.fabric.json" ] && break; sleep 0.1; done
  stop_daemons
  node "$WORK/extract.mjs" "$WORK/$name.pcap" "$OUT/$name.json" "$name" "$2" "$3" "$4" "$WORK/$name"
}

# pcap -> fixture JSON (kept inline so the script is self-contained)
cat >"$WORK/extract.mjs" <<'EXTRACT'
import { readFileSync, writeFileSync, existsSync } from 'node:fs'

const [pcapPath, outPath, scenario, description, authJson, md5Len, base] = process.argv.slice(2)
const SENDERS = { '10.255.1.1': 'bird', '10.255.1.2': 'frr', '10.255.1.3': 'fabric' }
const MAX_PER_KIND = 4
const buf = readFileSync(pcapPath)
const magic = buf.readUInt32LE(0)
if (magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d) throw new Error(`${pcapPath}: not a little-endian pcap`)
if (buf.readUInt32LE(20) !== 1) throw new Error(`${pcapPath}: link type ${buf.readUInt32LE(20)} is not Ethernet`)

const dotted = (b, o) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`
const packets = []
const seen = new Set()
const perKind = new Map()
for (let off = 24; off + 16 <= buf.length; ) {
  const caplen = buf.readUInt32LE(off + 8)
  const frame = buf.subarray(off + 16, off + 16 + caplen)
  off += 16 + caplen
  if (frame.length < 14 + 20 + 8 || frame.readUInt16BE(12) !== 0x0800) continue
  const ip = frame.subarray(14)
  const ihl = (ip[0] & 15) * 4
  if (ip[9] !== 17) continue
  const udp = ip.subarray(ihl)
  const payload = udp.subarray(8, udp.readUInt16BE(4))
  const from = dotted(ip, 12)
  const sender = SENDERS[from] ?? 'unknown'
  const command = payload[0] === 1 ? 'request' : payload[0] === 2 ? 'response' : `command-${payload[0]}`
  const hex = payload.toString('hex')
  if (seen.has(sender + hex)) continue // identical packets add nothing
  seen.add(sender + hex)
  const kind = `${sender}/${command}`
  const n = perKind.get(kind) ?? 0
  if (n >= MAX_PER_KIND) continue
  perKind.set(kind, n + 1)
  packets.push({ sender, from, to: dotted(ip, 16), srcPort: udp.readUInt16BE(0), dstPort: udp.readUInt16BE(2), command, hex })
}
const lines = (p) => (existsSync(p) ? readFileSync(p, 'utf8').trim().split('\n').map((l) => l.replace(/ripcap\d+/g, 'ripcap')) : [])
const fabric = existsSync(`${base}.fabric.json`) ? JSON.parse(readFileSync(`${base}.fabric.json`, 'utf8')) : null
const fixture = {
  scenario,
  description,
  captured: 'test/interop/capture-rip.sh',
  daemons: { bird: process.env.RIPCAP_BIRD_VERSION ?? 'bird2', frr: process.env.RIPCAP_FRR_VERSION ?? 'frr' },
  announced: { bird: ['10.244.1.0/24', '10.244.9.0/24 (tag 77)'], frr: ['10.244.2.0/24'], fabric: ['10.244.3.0/24 (tag 5)'] },
  auth: JSON.parse(authJson),
  fabricMd5AuthDataLength: Number(md5Len),
  learned: { bird: lines(`${base}.bird-routes`), frr: lines(`${base}.frr-routes`), fabric },
  packets,
}
writeFileSync(outPath, JSON.stringify(fixture, null, 2) + '\n')
console.error(`capture-rip: ${outPath}: ${packets.length} packets (${[...perKind].map(([k, v]) => `${k} ${v}`).join(', ')})`)
EXTRACT

BIRD_VER="$(bird --version 2>&1 | awk '{print $NF}')"
FRR_VER="$(/usr/lib/frr/ripd --version 2>&1 | awk 'NR==1{print $NF}')"
export RIPCAP_BIRD_VERSION="$BIRD_VER" RIPCAP_FRR_VERSION="$FRR_VER"

MD5_CHAIN="key chain fabric
 key 1
  key-string fabric-md5
!"

write_bird_conf "authentication none;"
write_frr_conf "" ""
capture none "BIRD, FRR ripd and fabric without authentication" '{"mode":"none","keys":[]}' 20

write_bird_conf 'authentication plaintext; password "fabricpw";'
write_frr_conf " ip rip authentication mode text
 ip rip authentication string fabricpw" ""
capture password "simple password fabricpw" '{"mode":"password","keys":[{"id":0,"secret":"fabricpw","algorithm":"password"}]}' 20

write_bird_conf 'authentication cryptographic; password "fabric-md5" { id 1; algorithm keyed md5; };'
write_frr_conf " ip rip authentication mode md5
 ip rip authentication key-chain fabric" "$MD5_CHAIN"
capture md5 "keyed MD5 key id 1; FRR default auth-length; fabric sends auth data length 20" '{"mode":"md5","keys":[{"id":1,"secret":"fabric-md5","algorithm":"md5"}]}' 20

write_bird_conf 'authentication cryptographic; password "fabric-md5" { id 1; algorithm keyed md5; };'
write_frr_conf " ip rip authentication mode md5 auth-length rfc
 ip rip authentication key-chain fabric" "$MD5_CHAIN"
capture md5-rfc "keyed MD5 key id 1; FRR auth-length rfc; fabric sends auth data length 16" '{"mode":"md5","keys":[{"id":1,"secret":"fabric-md5","algorithm":"md5"}]}' 16

write_bird_conf 'authentication cryptographic; password "fabric-sha" { id 2; algorithm hmac sha256; };'
write_frr_conf "" ""
capture hmac-sha256 "HMAC-SHA-256 key id 2 (BIRD, fabric); FRR ripd has no SHA, stays unauthenticated and is not accepted" '{"mode":"hmac-sha256","keys":[{"id":2,"secret":"fabric-sha","algorithm":"hmac-sha256"}]}' 20

echo "capture-rip: fixtures in $OUT" >&2
