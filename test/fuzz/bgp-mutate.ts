/**
 * Inputs for the hostile BGP peer: valid seeds built with the project's codec
 * (src/protocols/bgp/codec), and mutations of them: byte-level (bit flips,
 * length field edits, truncation, insertion, deletion) and attribute-level
 * (wrong flags, wrong lengths, duplicates, huge unknown optional transitive
 * attributes, bad NLRI prefix lengths, AS_CONFED segments, empty AS_PATH,
 * MP_REACH garbage, hostile NEXT_HOP values).
 *
 * Every case is a pure function of (seed, index): `bgpCase(seed, i, env)`.
 */
import { parseAddress } from '../../src/net/ipv4.js'
import {
  AttrFlag, AttrType, CapabilityCode, MAX_MESSAGE_LENGTH, encodeMessage, makeNotification, makeOpen,
  type Capability, type CodecContext,
} from '../../src/protocols/bgp/codec/index.js'
import { type Rng, caseRng } from './prng.js'

const AS4: CodecContext = { as4: true }

export interface BgpFuzzEnv {
  /** the attacker's AS (configured on the agent as this peer's asn) */
  readonly asn: number
  /** the attacker's address (valid NEXT_HOP) */
  readonly address: string
  /** the agent's own underlay address */
  readonly agentAddress: string
  /** the underlay network, e.g. 10.99.0.0/24 */
  readonly underlay: string
  /** a container address behind the agent's docker0 */
  readonly containerAddress: string
  /** prefixes the attacker must never hit exactly (the good peers' subnets) */
  readonly protectedPrefixes: readonly string[]
}

export interface BgpCase {
  readonly index: number
  readonly kind: string
  /** messages (or raw byte strings) to write, in order */
  readonly frames: Buffer[]
  /** when set, the concatenated frames are written in pieces ending at these offsets */
  readonly splits?: number[]
}

const num = (s: string): number => {
  const a = parseAddress(s)
  if (!a.ok) throw new Error(a.error)
  return a.value
}

function header(type: number, body: Buffer): Buffer {
  const h = Buffer.alloc(19, 0xff)
  h.writeUInt16BE((19 + body.length) & 0xffff, 16)
  h[18] = type
  return Buffer.concat([h, body])
}

/** One raw path attribute: flags, type code, value (length written per flags). */
export interface RawAttr {
  flags: number
  code: number
  value: Buffer
  /** overrides the length field */
  lengthField?: number
}

export function encodeRawAttr(a: RawAttr): Buffer {
  const ext = (a.flags & AttrFlag.EXTENDED_LENGTH) !== 0
  const len = a.lengthField ?? a.value.length
  const h = Buffer.alloc(ext ? 4 : 3)
  h[0] = a.flags
  h[1] = a.code
  if (ext) h.writeUInt16BE(len & 0xffff, 2)
  else h[2] = len & 0xff
  return Buffer.concat([h, a.value])
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0)
  return b
}

function asPathValue(segments: Array<{ type: number; asns: number[]; count?: number }>): Buffer {
  return Buffer.concat(segments.map((s) => Buffer.concat([Buffer.from([s.type, s.count ?? s.asns.length]), ...s.asns.map(u32)])))
}

/** NLRI bytes for prefixes given as (addr, len); `lenOverride` writes a bad length octet. */
function nlriBytes(list: Array<{ addr: number; len: number; lenOverride?: number; truncate?: boolean }>): Buffer {
  return Buffer.concat(list.map((p) => {
    const n = Math.ceil(p.len / 8)
    const b = Buffer.alloc(1 + n)
    b[0] = p.lenOverride ?? p.len
    const a = u32(p.addr)
    a.copy(b, 1, 0, n)
    return p.truncate ? b.subarray(0, Math.max(1, b.length - 1)) : b
  }))
}

function updateBytes(withdrawn: Buffer, attrs: Buffer, nlri: Buffer): Buffer {
  const wl = Buffer.alloc(2)
  wl.writeUInt16BE(withdrawn.length & 0xffff)
  const al = Buffer.alloc(2)
  al.writeUInt16BE(attrs.length & 0xffff)
  return header(2, Buffer.concat([wl, withdrawn, al, attrs, nlri]))
}

export class BgpMutator {
  private readonly nh: number
  private readonly net: number
  private readonly bcast: number
  private readonly protectedSet: Set<string>
  /** attacker prefix space: the upper half of the pool (10.244.128.0/17) */
  private readonly spaceBase = num('10.244.128.0')

  constructor(private readonly seed: number, private readonly env: BgpFuzzEnv) {
    this.nh = num(env.address)
    const [netText, lenText] = env.underlay.split('/') as [string, string]
    this.net = num(netText)
    this.bcast = (this.net | ((1 << (32 - Number(lenText))) - 1)) >>> 0
    this.protectedSet = new Set(env.protectedPrefixes)
  }

  /** The OPEN the attacker sends (valid: AS4 capability, route refresh, hold time 90). */
  open(r?: Rng, mutate = false): Buffer {
    const caps: Capability[] = [
      { kind: 'multiprotocol', afi: 1, safi: 1 },
      { kind: 'routeRefresh', code: 2 },
      { kind: 'as4', asn: this.env.asn },
    ]
    const valid = encodeMessage(makeOpen({ asn: this.env.asn, holdTime: 90, bgpId: this.nh, capabilities: caps }), AS4)
    if (!mutate || !r) return valid
    switch (r.int(8)) {
      case 0: return byteMutate(r, valid)
      case 1: { const b = Buffer.from(valid); b[19] = r.pick([0, 3, 5, 255]); return b } // version
      case 2: { const b = Buffer.from(valid); b.writeUInt16BE(r.pick([1, 2, 0, 65535]), 22); return b } // hold time
      case 3: { const b = Buffer.from(valid); b.writeUInt32BE(r.pick([0, 0xffffffff, num(this.env.agentAddress)]), 24); return b } // BGP id
      case 4: { // unknown / malformed capabilities, extended optional parameters
        const extra: Capability[] = Array.from({ length: r.range(1, 20) }, () => ({ kind: 'unknown' as const, code: r.range(7, 254), data: r.bytes(r.int(40)) }))
        try {
          return encodeMessage(makeOpen({ asn: this.env.asn, holdTime: 90, bgpId: this.nh, capabilities: [...caps, ...extra] }), AS4)
        } catch {
          return valid
        }
      }
      case 5: { // a capability with a wrong length
        const b = Buffer.from(valid)
        const i = b.indexOf(Buffer.from([CapabilityCode.AS4, 4]))
        if (i > 0) b[i + 1] = r.pick([0, 3, 5, 200])
        return b
      }
      case 6: { // wrong AS
        const b = Buffer.from(valid)
        const i = b.indexOf(Buffer.from([CapabilityCode.AS4, 4]))
        if (i > 0) b.writeUInt32BE(r.pick([0, 23456, 64512, r.int(0xffffffff)]), i + 2)
        return b
      }
      default: return truncateOrPad(r, valid)
    }
  }

  /** A prefix in the attacker's space (never one of the protected ones). */
  private prefix(r: Rng): { addr: number; len: number } {
    for (;;) {
      const len = r.chance(0.6) ? 24 : r.range(17, 32)
      const host = r.int(1 << 15) << 8 | r.int(256)
      const addr = (this.spaceBase | (host & 0x7fffff)) >>> 0
      const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0
      const p = { addr: (addr & mask) >>> 0, len }
      if (!this.protectedSet.has(`${p.addr >>> 24}.${(p.addr >>> 16) & 255}.${(p.addr >>> 8) & 255}.${p.addr & 255}/${len}`)) return p
    }
  }

  /** Prefixes a hostile peer might announce outside its lane (all must be refused by policy or sane in the kernel). */
  private oddPrefix(r: Rng): { addr: number; len: number } {
    return r.pick([
      { addr: 0, len: 0 }, { addr: num('10.244.0.0'), len: 16 }, { addr: num('10.244.0.0'), len: 8 },
      { addr: this.net, len: 24 }, { addr: num(this.env.agentAddress), len: 32 }, { addr: num('10.244.1.0'), len: 24 },
      { addr: num('127.0.0.0'), len: 8 }, { addr: num('224.0.0.0'), len: 4 }, { addr: num('192.168.7.0'), len: 24 },
      { addr: num('10.245.0.0'), len: 24 }, { addr: num('255.255.255.255'), len: 32 }, { addr: num('10.244.1.50'), len: 32 },
    ])
  }

  private nextHop(r: Rng): number {
    if (r.chance(0.75)) return this.nh
    return r.pick([
      this.net, this.bcast, num(this.env.agentAddress), num(this.env.containerAddress), 0, num('127.0.0.1'),
      num('224.0.0.5'), 0xffffffff, num('192.0.2.1'), (this.net + r.range(1, 254)) >>> 0, r.int(0xffffffff),
    ])
  }

  private baseAttrs(r: Rng): RawAttr[] {
    const T = AttrFlag.TRANSITIVE
    const O = AttrFlag.OPTIONAL
    const path = [this.env.asn, ...Array.from({ length: r.int(4) }, () => r.range(64600, 65500))]
    const attrs: RawAttr[] = [
      { flags: T, code: AttrType.ORIGIN, value: Buffer.from([r.int(3)]) },
      { flags: T, code: AttrType.AS_PATH, value: asPathValue([{ type: 2, asns: path }]) },
      { flags: T, code: AttrType.NEXT_HOP, value: u32(this.nextHop(r)) },
    ]
    if (r.chance(0.3)) attrs.push({ flags: O, code: AttrType.MULTI_EXIT_DISC, value: u32(r.int(1000)) })
    if (r.chance(0.3)) attrs.push({ flags: O | T, code: AttrType.COMMUNITIES, value: Buffer.concat(Array.from({ length: r.range(1, 8) }, () => u32(r.int(0xffffffff)))) })
    if (r.chance(0.1)) attrs.push({ flags: T, code: AttrType.LOCAL_PREF, value: u32(r.int(500)) })
    if (r.chance(0.1)) attrs.push({ flags: O | T, code: r.range(19, 254), value: r.bytes(r.int(64)) })
    return attrs
  }

  /** One attribute-level mutation of `attrs` (in place); returns its name. */
  private mutateAttrs(r: Rng, attrs: RawAttr[], room: number): string {
    const T = AttrFlag.TRANSITIVE
    const O = AttrFlag.OPTIONAL
    const which = r.weighted({
      flags: 10, length: 10, duplicate: 8, huge: 8, confed: 6, emptyPath: 5, firstAs: 4, badSegment: 6, mpReach: 8,
      mpUnreach: 4, localPref: 4, dropMandatory: 5, unknownWellKnown: 3, extLen: 3, attrGarbage: 6, aggregator: 3, reflector: 3,
    })
    const a = attrs.length > 0 ? attrs[r.int(attrs.length)]! : undefined
    switch (which) {
      case 'flags':
        if (a) a.flags = r.chance(0.5) ? a.flags ^ r.pick([0x80, 0x40, 0x20, 0x10, 0x08, 0x01]) : r.int(256) & 0xf0
        return 'attr-wrong-flags'
      case 'length':
        if (a) a.lengthField = r.pick([0, 1, a.value.length - 1, a.value.length + 1, 255, r.int(256)]) & 0xff
        return 'attr-wrong-length'
      case 'duplicate':
        if (a) attrs.splice(r.int(attrs.length + 1), 0, { ...a, value: r.chance(0.5) ? a.value : r.bytes(a.value.length) })
        return 'attr-duplicate'
      case 'huge': {
        // a huge unknown optional transitive attribute, up to what still fits in 4096 octets
        const used = attrs.reduce((s, x) => s + encodeRawAttr(x).length, 0)
        const max = room - used - 4 - 5
        const size = Math.max(0, r.chance(0.5) ? max - r.int(12) : r.range(256, Math.max(256, max)))
        if (size > 0 && size <= max) attrs.push({ flags: O | T | AttrFlag.EXTENDED_LENGTH | (r.chance(0.3) ? AttrFlag.PARTIAL : 0), code: r.range(19, 254), value: r.bytes(size) })
        return 'attr-huge-unknown-optional-transitive'
      }
      case 'confed': {
        const p = attrs.find((x) => x.code === AttrType.AS_PATH)
        if (p) p.value = asPathValue([{ type: r.pick([3, 4]), asns: [r.range(64600, 65500)] }, ...(r.chance(0.5) ? [{ type: 2, asns: [this.env.asn] }] : [])])
        return 'as-path-confed-segment'
      }
      case 'emptyPath': {
        const p = attrs.find((x) => x.code === AttrType.AS_PATH)
        if (p) p.value = Buffer.alloc(0)
        return 'as-path-empty'
      }
      case 'firstAs': {
        const p = attrs.find((x) => x.code === AttrType.AS_PATH)
        if (p) p.value = asPathValue([{ type: 2, asns: [r.pick([64512, 65002, 1, 0, 23456]), this.env.asn] }])
        return 'as-path-first-as-not-peer'
      }
      case 'badSegment': {
        const p = attrs.find((x) => x.code === AttrType.AS_PATH)
        if (p) {
          p.value = r.pick([
            asPathValue([{ type: 2, asns: [], count: 0 }]),
            asPathValue([{ type: 2, asns: [this.env.asn], count: r.range(2, 255) }]),
            asPathValue([{ type: r.pick([0, 5, 255]), asns: [this.env.asn] }]),
            asPathValue([{ type: 1, asns: Array.from({ length: r.range(1, 255) }, () => r.int(0xffffffff)) }]),
            asPathValue([{ type: 2, asns: [this.env.asn, ...Array.from({ length: 254 }, () => this.env.asn)] }]),
            Buffer.concat([asPathValue([{ type: 2, asns: [this.env.asn] }]), Buffer.from([2])]),
          ])
        }
        return 'as-path-malformed-segment'
      }
      case 'mpReach': {
        const body = r.pick([
          () => r.bytes(r.int(64)),
          () => Buffer.concat([Buffer.from([0, 1, 1, 4]), u32(this.nextHop(r)), Buffer.from([0]), nlriBytes([this.prefix(r)])]),
          () => Buffer.concat([Buffer.from([0, 2, 1, 16]), r.bytes(16), Buffer.from([0]), Buffer.from([64]), r.bytes(8)]),
          () => Buffer.concat([Buffer.from([0, r.int(4), r.int(256), r.int(256)]), r.bytes(r.int(40))]),
          () => Buffer.concat([Buffer.from([0, 1, 1, 4]), u32(this.nh), Buffer.from([0, r.range(33, 255)]), r.bytes(4)]),
        ])()
        attrs.push({ flags: O | (r.chance(0.2) ? T : 0), code: AttrType.MP_REACH_NLRI, value: body })
        return 'mp-reach-garbage'
      }
      case 'mpUnreach':
        attrs.push({ flags: O, code: AttrType.MP_UNREACH_NLRI, value: r.chance(0.5) ? r.bytes(r.int(40)) : Buffer.concat([Buffer.from([0, 1, 1]), nlriBytes([this.prefix(r)])]) })
        return 'mp-unreach-garbage'
      case 'localPref':
        attrs.push({ flags: T, code: AttrType.LOCAL_PREF, value: r.bytes(r.pick([0, 1, 3, 4, 5, 8])) })
        return 'local-pref-from-ebgp'
      case 'dropMandatory': {
        const i = attrs.findIndex((x) => x.code === r.pick([AttrType.ORIGIN, AttrType.AS_PATH, AttrType.NEXT_HOP]))
        if (i >= 0) attrs.splice(i, 1)
        return 'attr-missing-mandatory'
      }
      case 'unknownWellKnown':
        attrs.push({ flags: T, code: r.range(19, 254), value: r.bytes(r.int(16)) })
        return 'attr-unknown-well-known'
      case 'extLen':
        if (a) a.flags |= AttrFlag.EXTENDED_LENGTH
        return 'attr-extended-length-small'
      case 'attrGarbage':
        if (a) a.value = r.bytes(r.pick([0, 1, 2, 3, 5, 7, 16, a.value.length]))
        return 'attr-value-garbage'
      case 'aggregator':
        attrs.push({ flags: O | T, code: r.pick([AttrType.AGGREGATOR, AttrType.AS4_AGGREGATOR, AttrType.AS4_PATH]), value: r.bytes(r.pick([0, 6, 8, 9, 10])) })
        return 'aggregator-or-as4-garbage'
      case 'reflector':
        attrs.push({ flags: O, code: r.pick([AttrType.ORIGINATOR_ID, AttrType.CLUSTER_LIST]), value: r.bytes(r.pick([0, 3, 4, 8, 9])) })
        return 'reflector-attrs-from-ebgp'
    }
  }

  /** A valid-framed UPDATE announcing prefixes of the attacker's space (optionally withdrawing some). */
  validUpdate(r: Rng, count = r.range(1, 20)): Buffer {
    const attrs = this.baseAttrs(r).map((a) => (a.code === AttrType.NEXT_HOP ? { ...a, value: u32(this.nh) } : a))
    const nlri = Array.from({ length: count }, () => this.prefix(r))
    const withdrawn = r.chance(0.2) ? Array.from({ length: r.range(1, 5) }, () => this.prefix(r)) : []
    return updateBytes(nlriBytes(withdrawn), Buffer.concat(attrs.map(encodeRawAttr)), nlriBytes(nlri))
  }

  private attrUpdate(r: Rng): { kind: string; bytes: Buffer } {
    const attrs = this.baseAttrs(r)
    const nlri: Array<{ addr: number; len: number; lenOverride?: number; truncate?: boolean }> = Array.from({ length: r.range(1, 8) }, () => this.prefix(r))
    const withdrawn: Array<{ addr: number; len: number; lenOverride?: number; truncate?: boolean }> = r.chance(0.15) ? [this.prefix(r)] : []
    const kinds: string[] = []
    const rounds = r.chance(0.7) ? 1 : r.range(2, 3)
    for (let k = 0; k < rounds; k++) {
      const sel = r.int(10)
      if (sel === 0) {
        const t = r.chance(0.7) ? nlri : withdrawn.length > 0 ? withdrawn : nlri
        const p = t[r.int(t.length)]!
        if (r.chance(0.5)) p.lenOverride = r.range(33, 255)
        else p.truncate = true
        kinds.push('nlri-bad-prefix-length')
      } else if (sel === 1) {
        nlri.push(this.oddPrefix(r))
        kinds.push('nlri-outside-lane')
      } else {
        kinds.push(this.mutateAttrs(r, attrs, MAX_MESSAGE_LENGTH - 19 - 4 - nlriBytes(nlri).length - nlriBytes(withdrawn).length))
      }
    }
    let bytes = updateBytes(nlriBytes(withdrawn), Buffer.concat(attrs.map(encodeRawAttr)), nlriBytes(nlri))
    if (bytes.length > MAX_MESSAGE_LENGTH) bytes = truncateOrPad(r, bytes.subarray(0, MAX_MESSAGE_LENGTH))
    return { kind: kinds.join('+'), bytes }
  }

  private notification(r: Rng): Buffer {
    const code = r.range(1, 7)
    const msg = encodeMessage(makeNotification(code, r.int(12), r.bytes(r.int(32))), AS4)
    return r.chance(0.5) ? byteMutate(r, msg) : msg
  }

  private routeRefresh(r: Rng): Buffer {
    const b = Buffer.from([0, r.chance(0.7) ? 1 : r.int(4), r.chance(0.7) ? 0 : r.int(4), r.chance(0.7) ? 1 : r.int(256)])
    const m = header(5, r.chance(0.8) ? b : r.bytes(r.pick([0, 1, 3, 5, 40])))
    return r.chance(0.2) ? byteMutate(r, m) : m
  }

  private keepalive(r: Rng): Buffer {
    const k = header(4, Buffer.alloc(0))
    return r.chance(0.7) ? k : r.chance(0.5) ? header(4, r.bytes(r.range(1, 8))) : byteMutate(r, k)
  }

  /** Case `index`: what the attacker writes on an Established session. */
  case(index: number): BgpCase {
    const r = caseRng(this.seed, 1, index)
    const kind = r.weighted({ attr: 46, bytes: 18, valid: 10, keepalive: 4, refresh: 7, notification: 2, open: 2, flood: 6, random: 3, multi: 2 })
    let frames: Buffer[]
    let name: string
    switch (kind) {
      case 'attr': { const u = this.attrUpdate(r); frames = [u.bytes]; name = `update:${u.kind}`; break }
      case 'bytes': {
        const src = r.chance(0.6) ? this.validUpdate(r) : r.chance(0.5) ? this.attrUpdate(r).bytes : r.pick([this.keepalive(r), this.routeRefresh(r), this.open(r)])
        frames = [byteMutate(r, src)]
        name = 'bytes:mutated'
        break
      }
      case 'valid': frames = [this.validUpdate(r)]; name = 'update:valid'; break
      case 'keepalive': frames = [this.keepalive(r)]; name = 'keepalive'; break
      case 'refresh': frames = [this.routeRefresh(r)]; name = 'route-refresh'; break
      case 'notification': frames = [this.notification(r)]; name = 'notification'; break
      case 'open': frames = [this.open(r, r.chance(0.5))]; name = 'open-in-established'; break
      case 'flood': frames = Array.from({ length: r.range(20, 80) }, () => this.validUpdate(r, r.range(1, 60))); name = 'flood:updates'; break
      case 'multi': frames = Array.from({ length: r.range(2, 6) }, () => this.attrUpdate(r).bytes); name = 'update:several-in-one-write'; break
      default: frames = [r.chance(0.5) ? r.bytes(r.range(1, 200)) : header(r.int(256), r.bytes(r.int(100)))]; name = 'random-bytes'
    }
    let splits: number[] | undefined
    if (r.chance(0.2)) {
      const total = frames.reduce((s, f) => s + f.length, 0)
      const n = r.range(1, 4)
      splits = [...new Set(Array.from({ length: n }, () => 1 + r.int(Math.max(1, total - 1))))].filter((x) => x < total).sort((a, b) => a - b)
      name += '/split'
    }
    return { index, kind: name, frames, splits }
  }
}

/** Byte-level mutation: bit flips, random bytes, truncation, insertion, deletion, length field edits. */
export function byteMutate(r: Rng, src: Buffer): Buffer {
  let b = Buffer.from(src)
  const rounds = r.range(1, 4)
  for (let k = 0; k < rounds; k++) {
    switch (r.int(7)) {
      case 0:
        if (b.length > 0) { const i = b.length > 16 && r.chance(0.9) ? 16 + r.int(b.length - 16) : r.int(b.length); b[i] = b[i]! ^ (1 << r.int(8)) }
        break
      case 1:
        if (b.length > 0) b[r.int(b.length)] = r.int(256)
        break
      case 2:
        b = b.subarray(0, r.int(b.length + 1))
        if (b.length >= 19 && r.chance(0.6)) b.writeUInt16BE(b.length, 16)
        break
      case 3: {
        const at = r.int(b.length + 1)
        b = Buffer.concat([b.subarray(0, at), r.bytes(r.range(1, 8)), b.subarray(at)])
        if (b.length >= 19 && r.chance(0.7)) b.writeUInt16BE(Math.min(b.length, 0xffff), 16)
        break
      }
      case 4:
        if (b.length > 21) b[19 + r.int(b.length - 20)] = r.pick([0, 1, 2, 3, 4, 0x7f, 0x80, 0xfe, 0xff])
        break
      case 5:
        if (b.length >= 19) b.writeUInt16BE(r.pick([0, 18, 19, 23, 29, 4096, 4097, 65535, b.length - 1, b.length + 1]) & 0xffff, 16)
        break
      default:
        if (b.length > 20) {
          const at = 19 + r.int(b.length - 19)
          b = Buffer.concat([b.subarray(0, at), b.subarray(at + r.range(1, 6))])
          if (r.chance(0.7)) b.writeUInt16BE(b.length, 16)
        }
    }
  }
  return b
}

function truncateOrPad(r: Rng, b: Buffer): Buffer {
  if (r.chance(0.5)) {
    const c = Buffer.from(b.subarray(0, Math.max(19, r.int(b.length))))
    c.writeUInt16BE(c.length, 16)
    return c
  }
  const c = Buffer.concat([b, r.bytes(r.range(1, 16))])
  if (c.length <= 0xffff) c.writeUInt16BE(c.length, 16)
  return c
}

/** The 4,091-octet UPDATE of issue 9: one prefix, an unknown optional transitive attribute filling the message. */
export function oversizedReexportUpdate(env: BgpFuzzEnv, prefix = '10.244.200.0/24'): Buffer {
  const T = AttrFlag.TRANSITIVE
  const O = AttrFlag.OPTIONAL
  const [a, l] = prefix.split('/') as [string, string]
  const base: RawAttr[] = [
    { flags: T, code: AttrType.ORIGIN, value: Buffer.from([0]) },
    { flags: T, code: AttrType.AS_PATH, value: asPathValue([{ type: 2, asns: [env.asn] }]) },
    { flags: T, code: AttrType.NEXT_HOP, value: u32(num(env.address)) },
  ]
  const nl = nlriBytes([{ addr: num(a), len: Number(l) }])
  const fixed = 19 + 4 + base.reduce((s, x) => s + encodeRawAttr(x).length, 0) + 4 + nl.length
  const size = 4091 - fixed
  base.push({ flags: O | T | AttrFlag.EXTENDED_LENGTH, code: 200, value: Buffer.alloc(size, 0xab) })
  return updateBytes(Buffer.alloc(0), Buffer.concat(base.map(encodeRawAttr)), nl)
}
