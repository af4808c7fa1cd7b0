#!/usr/bin/env bash
# Captures real BGP-4 messages between BIRD 2 and FRR 8 and stores them as hex:
#   test/fixtures/bgp/bird2-frr8.json      BIRD AS 65001 <-> FRR AS 65002, 4-octet AS
#                                          session, IPv4 + IPv6 unicast
#   test/fixtures/bgp/bird2-frr8-as2.json  BIRD AS 4200000001 with 4-octet AS disabled
#                                          <-> FRR AS 65002: AS_TRANS, AS4_PATH
#
# Everything lives in two network namespaces named bgpcap<pid>-a / -b joined
# by a veth pair (10.255.0.0/24, 10.255.1.0/24, fd00:255::/64) that exists only inside them;
# nothing is sent from, or changed in, the root namespace. Every namespace,
# process and file created here is removed on exit, also on failure.
#
# Needs root, bird2, frr, tcpdump and node. Usage: sudo test/interop/capture-bgp.sh [OUTDIR]
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUTDIR=${1:-$HERE/../fixtures/bgp}
PFX="bgpcap$$"
NA="$PFX-a" # BIRD
NB="$PFX-b" # FRR
WORK=$(mktemp -d "/tmp/$PFX.XXXXXX")
FRRDIR="/var/run/frr/$NB"
PIDS=()

log() { echo "[capture-bgp] $*" >&2; }

cleanup() {
  set +e
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for f in "$WORK/bird.pid" "$FRRDIR/bgpd.pid" "$FRRDIR/zebra.pid"; do
    [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null
  done
  sleep 0.5
  for f in "$WORK/bird.pid" "$FRRDIR/bgpd.pid" "$FRRDIR/zebra.pid"; do
    [ -s "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
  done
  ip netns del "$NA" 2>/dev/null
  ip netns del "$NB" 2>/dev/null
  rm -rf "$WORK" "$FRRDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for cmd in bird birdc tcpdump node /usr/lib/frr/bgpd /usr/lib/frr/zebra vtysh; do
  command -v "$cmd" >/dev/null || { log "missing $cmd (apt-get install bird2 frr tcpdump)"; exit 1; }
done

log "namespaces $NA (BIRD) and $NB (FRR)"
ip netns add "$NA"
ip netns add "$NB"
ip link add veth0 netns "$NA" type veth peer name veth0 netns "$NB"
ip -n "$NA" link set lo up
ip -n "$NB" link set lo up
ip -n "$NA" addr add 10.255.0.1/24 dev veth0
ip -n "$NB" addr add 10.255.0.2/24 dev veth0
ip -n "$NA" addr add 10.255.1.1/24 dev veth0
ip -n "$NB" addr add 10.255.1.2/24 dev veth0
ip -n "$NA" addr add fd00:255::1/64 dev veth0 nodad
ip -n "$NB" addr add fd00:255::2/64 dev veth0 nodad
ip -n "$NA" link set veth0 up
ip -n "$NB" link set veth0 up

ip netns exec "$NA" tcpdump -Z root -U -s 0 -i veth0 -w "$WORK/bgp.pcap" 'tcp port 179' 2>"$WORK/tcpdump.log" &
PIDS+=($!)
sleep 1

cat >"$WORK/bird.conf" <<EOF
log "$WORK/bird.log" all;
router id 10.255.0.1;
protocol device {}
protocol static s4 {
  ipv4;
  route 10.1.0.0/24 blackhole;
  route 10.1.1.0/24 blackhole;
  route 10.1.2.0/23 blackhole;
  route 10.128.0.0/9 blackhole;
}
protocol static s6 {
  ipv6;
  route 2001:db8:1::/48 blackhole;
}
filter out4 {
  bgp_med = 50;
  bgp_community.add((65001, 100));
  bgp_community.add((65001, 200));
  accept;
}
protocol bgp peer_frr {
  local 10.255.0.1 as 65001;
  neighbor 10.255.0.2 as 65002;
  hold time 9;
  keepalive time 3;
  connect retry time 5;
  ipv4 { import all; export filter out4; };
  ipv6 { import all; export all; next hop address fd00:255::1; };
}
protocol bgp peer_frr_as2 {
  local 10.255.1.1 as 4200000001;
  neighbor 10.255.1.2 as 65002;
  enable as4 off;
  hold time 9;
  keepalive time 3;
  connect retry time 5;
  ipv4 { import all; export filter out4; };
}
EOF

mkdir -p "$FRRDIR"
cat >"$FRRDIR/frr.conf" <<EOF
frr defaults traditional
hostname $NB
log file $FRRDIR/frr.log
!
router bgp 65002
 bgp router-id 10.255.0.2
 no bgp ebgp-requires-policy
 no bgp network import-check
 timers bgp 3 9
 neighbor 10.255.0.1 remote-as 65001
 neighbor 10.255.0.1 timers connect 5
 neighbor 10.255.1.1 remote-as 23456
 neighbor 10.255.1.1 timers connect 5
 address-family ipv4 unicast
  network 10.2.0.0/24
  network 10.2.1.0/24
  network 172.16.0.0/16
 exit-address-family
 address-family ipv6 unicast
  neighbor 10.255.0.1 activate
  network 2001:db8:2::/48
 exit-address-family
!
EOF
touch "$FRRDIR/vtysh.conf"
chown -R frr:frr "$FRRDIR"
chmod 750 "$FRRDIR"

log "starting FRR (zebra, bgpd) in $NB"
ip netns exec "$NB" /usr/lib/frr/zebra -N "$NB" -d -f "$FRRDIR/frr.conf" -i "$FRRDIR/zebra.pid" >/dev/null
ip netns exec "$NB" /usr/lib/frr/bgpd -N "$NB" -d -f "$FRRDIR/frr.conf" -i "$FRRDIR/bgpd.pid" >/dev/null
log "starting BIRD in $NA"
ip netns exec "$NA" bird -c "$WORK/bird.conf" -s "$WORK/bird.ctl" -P "$WORK/bird.pid"

birdc_() { ip netns exec "$NA" birdc -s "$WORK/bird.ctl" "$@"; }
# vtysh warns about the missing /etc/frr/NAME/vtysh.conf; that file is not needed
vtysh_() { ip netns exec "$NB" vtysh -N "$NB" "$@" 2> >(grep -v "Can't open configuration file" >&2); }

log "waiting for both sessions to be Established"
for _ in $(seq 1 60); do
  if [ "$(birdc_ show protocols 2>/dev/null | grep -c Established)" = 2 ]; then break; fi
  sleep 0.5
done
for p in peer_frr peer_frr_as2; do
  birdc_ show protocols "$p" | grep -q Established || { log "session $p did not come up"; birdc_ show protocols all "$p" >&2 || true; exit 1; }
done
sleep 4 # initial UPDATEs, End-of-RIB and a few KEEPALIVEs

log "route refresh from FRR, then from BIRD"
vtysh_ -c 'clear ip bgp * soft in' >/dev/null
sleep 1
birdc_ reload in peer_frr >/dev/null
sleep 1

log "withdrawal from FRR"
vtysh_ -c 'configure terminal' -c 'router bgp 65002' -c 'address-family ipv4 unicast' -c 'no network 10.2.1.0/24' >/dev/null
sleep 2

log "administrative shutdown from BIRD"
birdc_ disable peer_frr '"fixture capture done"' >/dev/null
birdc_ disable peer_frr_as2 >/dev/null
sleep 1.5

kill "${PIDS[0]}" 2>/dev/null || true
wait "${PIDS[0]}" 2>/dev/null || true
PIDS=()

BIRD_VERSION=$(bird --version 2>&1 | awk '{print $NF}')
FRR_VERSION=$(/usr/lib/frr/bgpd --version 2>/dev/null | head -1 | awk '{print $NF}')
log "extracting messages (BIRD $BIRD_VERSION, FRR $FRR_VERSION)"
cat >"$WORK/extract.mjs" <<'JS'
// pcap (Ethernet/IPv4/TCP) -> BGP messages per sender, as a fixture JSON file
import { readFileSync, writeFileSync } from 'node:fs'
const [pcapPath, outDir, birdVersion, frrVersion] = process.argv.slice(2)
const SENDERS = { '10.255.0.1': 'bird', '10.255.0.2': 'frr', '10.255.1.1': 'bird', '10.255.1.2': 'frr' }
const SESSIONS = {
  '10.255.0': {
    file: 'bird2-frr8.json',
    ctx: { as4: true },
    description: 'eBGP session BIRD (AS 65001, 10.255.0.1) <-> FRR (AS 65002, 10.255.0.2), IPv4 session with IPv4 and IPv6 unicast, 4-octet AS; captured by test/interop/capture-bgp.sh. Sequence: OPENs, initial UPDATEs and End-of-RIB, KEEPALIVEs (at most 2 kept per sender), route refresh from FRR then BIRD (enhanced: BoRR/EoRR), FRR withdraws 10.2.1.0/24, BIRD disables the session with a shutdown communication.',
  },
  '10.255.1': {
    file: 'bird2-frr8-as2.json',
    ctx: { as4: false },
    description: 'eBGP session BIRD (AS 4200000001 with "enable as4 off", 10.255.1.1) <-> FRR (AS 65002, peer configured as AS_TRANS 23456, 10.255.1.2), IPv4 unicast, 2-octet AS session: BIRD sends AS_TRANS with AS4_PATH; captured by test/interop/capture-bgp.sh.',
  },
}
const TYPES = { 1: 'open', 2: 'update', 3: 'notification', 4: 'keepalive', 5: 'routeRefresh' }
const buf = readFileSync(pcapPath)
const magic = buf.readUInt32LE(0)
const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d
if (!le && buf.readUInt32BE(0) !== 0xa1b2c3d4 && buf.readUInt32BE(0) !== 0xa1b23c4d) throw new Error('not a pcap file')
const u32 = (o) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o))
const linktype = u32(20)
const l2 = linktype === 1 ? 14 : linktype === 113 ? 16 : -1
if (l2 < 0) throw new Error(`unsupported link type ${linktype}`)
const streams = new Map()
let pos = 24
let index = 0
while (pos + 16 <= buf.length) {
  const incl = u32(pos + 8)
  const pkt = buf.subarray(pos + 16, pos + 16 + incl)
  pos += 16 + incl
  index++
  if (pkt.readUInt16BE(l2 - 2) !== 0x0800) continue
  const ip = pkt.subarray(l2)
  if (ip[9] !== 6) continue
  const ihl = (ip[0] & 15) * 4
  const total = ip.readUInt16BE(2)
  const src = ip.subarray(12, 16).join('.')
  const dst = ip.subarray(16, 20).join('.')
  const tcp = ip.subarray(ihl, total)
  const key = `${src}:${tcp.readUInt16BE(0)}>${dst}:${tcp.readUInt16BE(2)}`
  const seq = tcp.readUInt32BE(4)
  const syn = (tcp[13] & 2) !== 0
  const payload = tcp.subarray((tcp[12] >> 4) * 4)
  let s = streams.get(key)
  if (!s) { s = { src, isn: undefined, segs: [] }; streams.set(key, s) }
  if (syn) s.isn = (seq + 1) >>> 0
  if (payload.length > 0) s.segs.push({ seq, data: Buffer.from(payload), index })
}
const messages = []
for (const s of streams.values()) {
  if (s.segs.length === 0) continue
  const base = s.isn ?? s.segs[0].seq
  const segs = s.segs.map((g) => ({ ...g, rel: (g.seq - base) >>> 0 })).sort((a, b) => a.rel - b.rel)
  const parts = []
  const at = []
  let next = 0
  for (const g of segs) {
    if (g.rel + g.data.length <= next) continue
    const skip = Math.max(0, next - g.rel)
    if (g.rel > next) break // a gap: stop at what is contiguous
    at.push({ off: next, index: g.index })
    parts.push(g.data.subarray(skip))
    next = g.rel + g.data.length
  }
  const stream = Buffer.concat(parts)
  let o = 0
  while (o + 19 <= stream.length) {
    const len = stream.readUInt16BE(o + 16)
    if (len < 19 || o + len > stream.length) break
    const seg = at.filter((a) => a.off <= o).pop()
    messages.push({ session: s.src.split('.').slice(0, 3).join('.'), from: SENDERS[s.src] ?? s.src, type: TYPES[stream[o + 18]] ?? `type${stream[o + 18]}`, hex: stream.subarray(o, o + len).toString('hex'), index: seg.index, o })
    o += len
  }
}
messages.sort((a, b) => a.index - b.index || a.o - b.o)
for (const [net, session] of Object.entries(SESSIONS)) {
  const kept = []
  const keepalives = {}
  for (const m of messages.filter((x) => x.session === net)) {
    if (m.type === 'keepalive') {
      keepalives[m.from] = (keepalives[m.from] ?? 0) + 1
      if (keepalives[m.from] > 2) continue
    }
    kept.push({ from: m.from, type: m.type, hex: m.hex })
  }
  if (kept.length === 0) throw new Error(`no messages captured for ${net}.0/24`)
  const fixture = { description: session.description, daemons: { bird: birdVersion, frr: frrVersion }, ctx: session.ctx, messages: kept }
  writeFileSync(`${outDir}/${session.file}`, JSON.stringify(fixture, null, 2) + '\n')
  console.error(`[capture-bgp] ${session.file}: ${kept.length} messages: ` + kept.map((m) => `${m.from}:${m.type}`).join(' '))
}
JS
node "$WORK/extract.mjs" "$WORK/bgp.pcap" "$OUTDIR" "$BIRD_VERSION" "$FRR_VERSION"
log "wrote fixtures to $OUTDIR"
