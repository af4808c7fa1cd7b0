/**
 * Parallel ICMP echo from inside a lab container: one process per source
 * container sends an echo request to every target at once and collects the
 * replies until all have answered or the deadline passes, so pinging 199
 * containers costs one round trip and one process, not 199 `ping` processes.
 *
 * Node has no raw sockets, so the sender is a small Perl program using only
 * perl-base (an Essential package of Debian: on every Debian system) with raw
 * ICMP / ICMPv6 sockets. It runs inside the source container's namespace
 * (`nsenter --net`), as root like the rest of the lab. A target counts as
 * reachable only when an echo reply carrying our identifier, the target's
 * sequence number and our payload comes back from the target's own address.
 * An unanswered target gets a second request half-way through the deadline
 * (one lost packet on a loaded machine is not a broken route); a target that
 * stays silent until the deadline is reported as failed.
 */
import { parseAddress } from '../net/ipv4.js'
import { canonicalAddress6 } from '../net/ipv6.js'
import { run } from './sh.js'

/**
 * The sender. Arguments: the deadline in seconds, then the targets (IPv4
 * dotted quads or IPv6 text). Prints `ok ADDR` per reply as it arrives,
 * `fail ADDR` per target silent at the deadline, then `done`. Exits 2 with a
 * message on stderr when it cannot open its sockets or an argument is wrong.
 */
export const PINGER_SOURCE = String.raw`
use strict;
use warnings;
use Socket qw(AF_INET AF_INET6 SOCK_RAW SOL_SOCKET SO_RCVBUF inet_pton pack_sockaddr_in pack_sockaddr_in6 unpack_sockaddr_in unpack_sockaddr_in6);
$| = 1;
my ($wait, @targets) = @ARGV;
sub fatal { print STDERR "pinger: $_[0]\n"; exit 2 }
fatal("usage: pinger SECONDS ADDR...") unless defined $wait && $wait =~ /^[0-9]+(\.[0-9]+)?$/ && $wait > 0;
fatal("at most 65535 targets") if @targets > 65535;
my $id = $$ & 0xffff;
my $tag = 'fabric-lab-echo';
my (%index, @to, @fam, $s4, $s6);
for my $i (0 .. $#targets) {
  my $t = $targets[$i];
  my $v6 = index($t, ':') >= 0;
  my $bin = inet_pton($v6 ? AF_INET6 : AF_INET, $t);
  fatal("not an address: $t") unless defined $bin;
  $fam[$i] = $v6 ? 6 : 4;
  $index{$fam[$i] . $bin} = $i;
  $to[$i] = $v6 ? pack_sockaddr_in6(0, $bin) : pack_sockaddr_in(0, $bin);
  if ($v6) { $s6 //= raw(AF_INET6, 58) } else { $s4 //= raw(AF_INET, 1) }
}
sub raw {
  my ($domain, $proto) = @_;
  socket(my $s, $domain, SOCK_RAW, $proto) or fatal("raw socket (family " . ($proto == 1 ? 'IPv4' : 'IPv6') . "): $!");
  # room for every reply while this process waits to be scheduled: SO_RCVBUFFORCE (33, root), else SO_RCVBUF up to rmem_max
  my $room = pack('i', 4096 + 2048 * @targets);
  setsockopt($s, SOL_SOCKET, 33, $room) or setsockopt($s, SOL_SOCKET, SO_RCVBUF, $room);
  return $s;
}
sub checksum {
  my ($d) = @_;
  $d .= "\0" if length($d) % 2;
  my $sum = 0;
  $sum += $_ for unpack('n*', $d);
  $sum = ($sum & 0xffff) + ($sum >> 16) while $sum > 0xffff;
  return ~$sum & 0xffff;
}
sub echo {
  my ($i) = @_;
  my $v6 = $fam[$i] == 6;
  my $pkt = pack('CCnnn', $v6 ? 128 : 8, 0, 0, $id, $i) . $tag;
  # the kernel fills in the ICMPv6 checksum (RFC 3542 3.1); ICMPv4's is ours
  substr($pkt, 2, 2, pack('n', checksum($pkt))) unless $v6;
  send($v6 ? $s6 : $s4, $pkt, 0, $to[$i]);
}
my (%done, $rin);
$rin = '';
vec($rin, fileno($s4), 1) = 1 if $s4;
vec($rin, fileno($s6), 1) = 1 if $s6;
sub take {
  my ($f, $s) = @_;
  my $from = recv($s, my $buf, 4096, 0);
  return unless defined $from && length($buf) >= 8;
  if ($f == 4) {
    my $ihl = (ord($buf) & 15) * 4;
    return if length($buf) < $ihl + 8;
    $buf = substr($buf, $ihl);
  }
  my ($type, $code, undef, $rid, $seq) = unpack('CCnnn', $buf);
  return unless $type == ($f == 4 ? 0 : 129) && $code == 0 && $rid == $id && $seq <= $#targets;
  return unless substr($buf, 8) eq $tag;
  my $src = $f == 4 ? (unpack_sockaddr_in($from))[1] : (unpack_sockaddr_in6($from))[1];
  my $i = $index{$f . $src};
  return unless defined $i && $i == $seq && !exists $done{$i};
  $done{$i} = 1;
  print "ok $targets[$i]\n";
}
sub ready {
  my ($rout) = @_;
  take(4, $s4) if $s4 && vec($rout, fileno($s4), 1);
  take(6, $s6) if $s6 && vec($rout, fileno($s6), 1);
}
echo($_) for 0 .. $#targets;
my $left = $wait;
my $resent = 0;
while (keys(%done) < @targets && $left > 0) {
  if (!$resent && $left <= $wait / 2) {
    $resent = 1;
    exists $done{$_} or echo($_) for 0 .. $#targets;
  }
  my $slice = $resent ? $left : $left - $wait / 2;
  my ($n, $timeleft) = select(my $rout = $rin, undef, undef, $slice);
  $timeleft = 0 unless defined $timeleft && $timeleft >= 0 && $timeleft <= $slice;
  $left -= $slice - $timeleft;
  ready($rout) if $n && $n > 0;
}
# replies already queued at the deadline that this process, not scheduled in time, has not read yet
while (keys(%done) < @targets) {
  my ($n) = select(my $rout = $rin, undef, undef, 0);
  last unless $n && $n > 0;
  ready($rout);
}
exists $done{$_} or print "fail $targets[$_]\n" for 0 .. $#targets;
print "done\n";
`

/** What one source container saw: each target's address -> answered. */
export type EchoResults = Map<string, boolean>

/**
 * Parses the sender's output for these targets. Every target must appear
 * exactly once as ok or fail and the output must end with `done`; anything
 * else (the sender killed, an unknown line) is an error, not a silent fail.
 */
export function parsePingerOutput(stdout: string, targets: readonly string[]): EchoResults | string {
  const wanted = new Set(targets)
  const out: EchoResults = new Map()
  let done = false
  for (const line of stdout.split('\n')) {
    if (line === '') continue
    if (done) return `pinger: output after "done": ${JSON.stringify(line.slice(0, 80))}`
    if (line === 'done') {
      done = true
      continue
    }
    const m = /^(ok|fail) (\S+)$/.exec(line)
    if (!m) return `pinger: unexpected line ${JSON.stringify(line.slice(0, 80))}`
    const addr = m[2]!
    if (!wanted.has(addr)) return `pinger: answer for ${addr}, which was not a target`
    if (out.has(addr)) return `pinger: ${addr} reported twice`
    out.set(addr, m[1] === 'ok')
  }
  if (!done) return 'pinger: output ended before "done"'
  const missing = targets.filter((t) => !out.has(t))
  if (missing.length) return `pinger: no result for ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}`
  return out
}

/** Targets must be plain IPv4 or canonical IPv6 addresses (they are echoed back verbatim). */
export function checkTarget(addr: string): string | undefined {
  if (addr.includes(':')) {
    const r = canonicalAddress6(addr)
    if (!r.ok) return `${addr}: ${r.error}`
    return r.value === addr ? undefined : `${addr}: not in canonical form (${r.value})`
  }
  const r = parseAddress(addr)
  return r.ok ? undefined : `${addr}: ${r.error}`
}

export interface PingOptions {
  /** seconds until a silent target counts as failed (default 1; a second request goes out at half of it) */
  waitS?: number
}

/**
 * Pings every target from inside network namespace `ns` in one round.
 * Resolves with each target's result; throws when the sender cannot run
 * (no perl, no such namespace, not root).
 */
export async function pingFromNamespace(ns: string, targets: readonly string[], opts: PingOptions = {}): Promise<EchoResults> {
  if (targets.length === 0) return new Map()
  if (new Set(targets).size !== targets.length) throw new Error(`ping targets: ${targets.find((t, i) => targets.indexOf(t) !== i)} given twice`)
  for (const t of targets) {
    const problem = checkTarget(t)
    if (problem) throw new Error(`ping target ${problem}`)
  }
  const waitS = opts.waitS ?? 1
  const r = await run('nsenter', [`--net=/run/netns/${ns}`, 'perl', '-e', PINGER_SOURCE, String(waitS), ...targets], { timeoutMs: waitS * 1000 + 30_000 })
  if (r.code !== 0) throw new Error(`pings from namespace ${ns} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim().slice(0, 200)}`)
  const parsed = parsePingerOutput(r.stdout, targets)
  if (typeof parsed === 'string') throw new Error(`pings from namespace ${ns}: ${parsed}`)
  return parsed
}
