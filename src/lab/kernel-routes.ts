/**
 * The fabric routes (protocol 233) in the kernels of many lab hosts, read
 * from the root namespace in one process: a small Perl program (perl-base
 * only, an Essential package of Debian) enters each host's network namespace
 * in turn (setns on /run/netns/NS) and dumps its routes over rtnetlink, so
 * 200 hosts cost one process and ~0.2 s instead of 200 `ip -n NS route`
 * processes (each one remounts /sys; together ~1 s of CPU). Where the
 * program cannot run (no perl, an architecture whose setns number it does not
 * know) a few shells run `ip -n NS -4|-6 route show table all proto 233` instead.
 */
import { formatPrefix6, parsePrefix6 } from '../net/ipv6.js'
import { formatPrefix, parsePrefix } from '../net/ipv4.js'
import { run } from './sh.js'
import type { Family } from './summary.js'

/**
 * Arguments: the protocol number, the families (`4`, `6` or `4,6`), the
 * namespaces. For each namespace and family it prints `@F NS` and then the
 * destination of every unicast route of that protocol (any table), one per
 * line; `!NS REASON` when the namespace cannot be entered or dumped; `done`
 * at the end. Exits 3 when it knows no setns number for this machine.
 */
export const ROUTE_DUMPER_SOURCE = String.raw`
use strict;
use warnings;
use Config;
use Socket qw(AF_INET AF_INET6 SOCK_RAW inet_ntop);
$| = 1;
sub fatal { print STDERR "route dumper: $_[0]\n"; exit($_[1] // 2) }
my %SETNS = (x86_64 => 308, aarch64 => 268, i386 => 346, i486 => 346, i586 => 346, i686 => 346, arm => 375, armv7l => 375, ppc64le => 350, s390x => 339, riscv64 => 268);
my ($arch) = $Config{archname} =~ /^([^-]+)/;
my $nr = $SETNS{$arch // ''};
fatal("no setns system call number known for $Config{archname}", 3) unless defined $nr;
my ($proto, $fams, @namespaces) = @ARGV;
fatal('usage: dump PROTOCOL 4[,6] NAMESPACE...') unless defined $fams && $proto =~ /^\d+$/ && $fams =~ /^[46](,[46])?$/;
my $seq = 0;
sub dump_routes {
  my ($f) = @_;
  my $family = $f == 4 ? AF_INET : AF_INET6;
  socket(my $nl, 16, SOCK_RAW, 0) or return "netlink socket: $!";
  $seq++;
  # nlmsghdr {len, type RTM_GETROUTE, flags NLM_F_REQUEST|NLM_F_DUMP, seq, pid} + rtmsg {family, ...}
  my $req = pack('LSSLL', 28, 26, 0x301, $seq, 0) . pack('CCCCCCCCL', $family, 0, 0, 0, 0, 0, 0, 0, 0);
  defined send($nl, $req, 0, pack('SSLL', 16, 0, 0, 0)) or return "netlink send: $!";
  my @out;
  for (;;) {
    defined recv($nl, my $buf, 1 << 16, 0) or return "netlink recv: $!";
    return 'netlink: empty read' if length($buf) == 0;
    while (length($buf) >= 16) {
      my ($len, $type, undef, $mseq) = unpack('LSSL', $buf);
      return "netlink: bad message length $len" if $len < 16 || $len > length($buf);
      if ($mseq == $seq) {
        return \@out if $type == 3;
        if ($type == 2) {
          my $errno = unpack('l', substr($buf, 16, 4));
          return "netlink error $errno" if $errno;
        } elsif ($type == 24 && $len >= 28) {
          my ($rfam, $dlen, undef, undef, undef, $rproto, undef, $rtype) = unpack('CCCCCCCC', substr($buf, 16, 8));
          if ($rfam == $family && $rproto == $proto && $rtype == 1) {
            my $dst = "\0" x ($f == 4 ? 4 : 16);
            my $off = 28;
            while ($off + 4 <= $len) {
              my ($alen, $atype) = unpack('SS', substr($buf, $off, 4));
              last if $alen < 4 || $off + $alen > $len;
              $dst = substr($buf, $off + 4, $alen - 4) if $atype == 1 && $alen - 4 == length($dst);
              $off += ($alen + 3) & ~3;
            }
            push @out, inet_ntop($family, $dst) . "/$dlen";
          }
        }
      }
      $buf = substr($buf, ($len + 3) & ~3);
    }
  }
}
for my $ns (@namespaces) {
  my $fh;
  unless (open($fh, '<', "/run/netns/$ns")) { print "!$ns open /run/netns/$ns: $!\n"; next }
  if (syscall($nr, fileno($fh), 0x40000000) != 0) { print "!$ns setns: $!\n"; close $fh; next }
  close $fh;
  for my $f (split /,/, $fams) {
    my $r = dump_routes($f);
    if (ref $r) { print "\@$f $ns\n", map { "$_\n" } @$r } else { print "!$ns $r\n" }
  }
}
print "done\n";
`

/** The fallback: one shell per share of the namespaces, `ip -n` for each. */
const SHELL_SCRIPT = 'p=$1; fams=$2; shift 2; for ns; do for f in $fams; do echo "@$f $ns"; ip -n "$ns" -"$f" route show table all proto "$p" 2>/dev/null || echo "!$ns ip -n $ns -$f route show failed ($?)"; done; done; echo done'

/** Route types `ip route` prints before the prefix; such routes do not forward to a host. */
const ROUTE_TYPES = new Set(['unreachable', 'blackhole', 'prohibit', 'throw', 'local', 'broadcast', 'multicast', 'anycast', 'nat'])

/** One namespace's routes: unicast prefixes per family (canonical text), or why they could not be read. */
export type NamespaceRoutes = Partial<Record<Family, string[]>> | string

/** The prefix a line of `ip route show` (or of the dumper) starts with, canonical; undefined for a non-unicast route or a line that is not one. */
export function routeLinePrefix(line: string, f: Family): string | undefined {
  if (line === '' || line.charCodeAt(0) <= 32) return undefined // nexthop lines of a multipath route
  const sp = line.indexOf(' ')
  const first = sp < 0 ? line : line.slice(0, sp)
  if (ROUTE_TYPES.has(first)) return undefined
  const text = first.includes('/') ? first : `${first}/${f === 4 ? 32 : 128}`
  if (f === 4) {
    const r = parsePrefix(text)
    return r.ok ? formatPrefix(r.value) : undefined
  }
  const r = parsePrefix6(text)
  return r.ok ? formatPrefix6(r.value) : undefined
}

/** routeLinePrefix of the first token, remembered: every host of a lab lists the same few hundred prefixes. */
function prefixCache(): (line: string, f: Family) => string | undefined {
  const memo = new Map<string, string | undefined>()
  return (line, f) => {
    const sp = line.indexOf(' ')
    const key = `${f}${sp < 0 ? line : line.slice(0, sp)}`
    if (memo.has(key)) return memo.get(key)
    const p = routeLinePrefix(line, f)
    memo.set(key, p)
    return p
  }
}

/**
 * Parses the output of the dumper or of the fallback shells (one or more
 * concatenated): `@F NS` opens namespace NS's family-F routes, the lines
 * after it are routes (a prefix first), `!NS REASON` says NS could not be
 * read, and each program's output ends with `done`. A namespace or family
 * without a section is reported as unread, as is every namespace when a
 * program's output did not end with `done` (it was killed).
 */
export function parseRouteDump(stdout: string, namespaces: readonly string[], families: readonly Family[], programs = 1): Map<string, NamespaceRoutes> {
  const seen = new Map<string, Partial<Record<Family, string[]>>>()
  const failed = new Map<string, string>()
  let cur: { list: string[]; f: Family } | undefined
  let done = 0
  const prefixOf = prefixCache()
  for (const line of stdout.split('\n')) {
    const c = line.charCodeAt(0)
    if (cur && c !== 64 && c !== 33 && line !== 'done') {
      // the common case: a route of the current section ('@' and '!' start no route)
      const p = prefixOf(line, cur.f)
      if (p !== undefined) cur.list.push(p)
      continue
    }
    const open = /^@([46]) (\S+)$/.exec(line)
    if (open) {
      const f = Number(open[1]) as Family
      const entry = seen.get(open[2]!) ?? {}
      entry[f] = []
      seen.set(open[2]!, entry)
      cur = { list: entry[f], f }
      continue
    }
    const fail = /^!(\S+) (.*)$/.exec(line)
    if (fail) {
      failed.set(fail[1]!, fail[2]!)
      cur = undefined
      continue
    }
    if (line === 'done') {
      done++
      cur = undefined
    }
  }
  const out = new Map<string, NamespaceRoutes>()
  for (const ns of namespaces) {
    const why = failed.get(ns)
    const entry = seen.get(ns)
    if (done < programs) out.set(ns, 'the route dump ended early')
    else if (why) out.set(ns, why)
    else if (!entry || families.some((f) => entry[f] === undefined)) out.set(ns, `no routes read from namespace ${ns}`)
    else out.set(ns, entry)
  }
  return out
}

export interface ReadRoutesOptions {
  /** the route protocol (default 233, fabric's) */
  protocol?: number
  /** the fallback's shells at once (default 4) */
  shells?: number
  /** skip the dumper (tests of the fallback) */
  noDumper?: boolean
}

/** Reads the unicast routes of `protocol` in these namespaces: the dumper, or the fallback shells where it cannot run. */
export async function readFabricRoutes(namespaces: readonly string[], families: readonly Family[], opts: ReadRoutesOptions = {}): Promise<Map<string, NamespaceRoutes>> {
  if (namespaces.length === 0) return new Map()
  const proto = String(opts.protocol ?? 233)
  if (!opts.noDumper) {
    const r = await run('perl', ['-e', ROUTE_DUMPER_SOURCE, proto, families.join(','), ...namespaces], { timeoutMs: 60_000 })
    // 3: no setns number for this machine; 127: no perl. Anything else is an answer (or an error) of the dumper.
    if (r.code !== 3 && r.code !== 127) {
      if (r.code !== 0) return new Map(namespaces.map((ns) => [ns, `route dumper failed (exit ${r.code}): ${r.stderr.trim().slice(0, 200)}`]))
      return parseRouteDump(r.stdout, namespaces, families)
    }
  }
  const n = Math.max(1, Math.min(opts.shells ?? 4, namespaces.length))
  const shares: string[][] = Array.from({ length: n }, () => [])
  namespaces.forEach((ns, i) => {
    shares[i % n]!.push(ns)
  })
  const outputs = await Promise.all(shares.map(async (share) => {
    const r = await run('sh', ['-c', SHELL_SCRIPT, 'sh', proto, families.join(' '), ...share], { timeoutMs: 60_000 })
    return r.stdout
  }))
  return parseRouteDump(outputs.join('\n'), namespaces, families, n)
}
