/**
 * Adj-RIB-Out to UPDATE messages: prefixes grouped by their shared Path (one
 * attribute set per group), each group packed into as few UPDATEs as fit the
 * peer's message size (codec/update.ts), withdrawals first, End-of-RIB last
 * (RFC 4724) where asked for.
 */
import type { Prefix } from '../../net/ipv4.js'
import type { PrefixMap } from '../../net/prefix-map.js'
import { maxMessageLength } from './codec/message.js'
import type { CodecContext, PathAttribute, UpdateMessage } from './codec/types.js'
import { makeEndOfRib, packUpdates, packWithdrawals, shareUpdate } from './codec/update.js'
import type { Path } from './paths.js'

/** prefixes by the path they are announced with, in first-seen order */
export type PathGroups = Map<Path, Prefix[]>

export function addToGroup(groups: PathGroups, path: Path, prefix: Prefix): void {
  let g = groups.get(path)
  if (g === undefined) groups.set(path, (g = []))
  g.push(prefix)
}

/** The attributes a path is sent with to this peer (export-policy.ts). */
export type AttributesOf = (path: Path) => readonly PathAttribute[]

/** A whole table for one peer: one group of UPDATEs per path, then End-of-RIB if asked. */
export function packTable(groups: PathGroups, attributesOf: AttributesOf, ctx: CodecContext, endOfRib: boolean): UpdateMessage[] {
  const messages: UpdateMessage[] = []
  const max = maxMessageLength(ctx)
  for (const [path, prefixes] of groups) messages.push(...packUpdates(attributesOf(path), prefixes, ctx, max))
  if (endOfRib) messages.push(makeEndOfRib())
  return messages
}

/** Messages packed for one group of prefixes (and the message size they were packed for). */
interface Packed {
  readonly prefixes: readonly Prefix[]
  readonly max: number
  readonly messages: readonly UpdateMessage[]
}

/**
 * What one flush packed, for the next peers of the same flush: a change
 * usually goes to every peer (a reflector's clients) with the same exported
 * attribute list (export-policy.ts keeps one per path and kind of peer), so
 * the same prefixes with the same list make the same UPDATEs. They are packed
 * once and shared (codec shareUpdate: encoded once); each peer still gets
 * exactly its own changes, since a group is reused only when its prefixes are
 * the same. Kept for one flush only.
 */
export class SharedPacks {
  /** by exported attribute list: the last group packed with it */
  readonly byAttributes = new Map<readonly PathAttribute[], Packed>()
  withdrawn: Packed | undefined
}

function samePrefixes(a: readonly Prefix[], b: readonly Prefix[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i]!.addr !== b[i]!.addr || a[i]!.len !== b[i]!.len) return false
  return true
}

function shared(messages: UpdateMessage[]): UpdateMessage[] {
  for (const m of messages) shareUpdate(m)
  return messages
}

/**
 * Pending Adj-RIB-Out changes (prefix -> path, or null to withdraw):
 * withdrawals first, then announcements. With `share`, groups another peer
 * of the same flush already had are taken from it, not packed again.
 */
export function packChanges(pending: PrefixMap<Path | null>, attributesOf: AttributesOf, ctx: CodecContext, share?: SharedPacks): UpdateMessage[] {
  const withdrawn: Prefix[] = []
  const groups: PathGroups = new Map()
  pending.forEach((prefix, path) => {
    if (path === null) withdrawn.push(prefix)
    else addToGroup(groups, path, prefix)
  })
  const max = maxMessageLength(ctx)
  const messages: UpdateMessage[] = []
  if (withdrawn.length > 0) {
    const w = share?.withdrawn
    if (w !== undefined && w.max === max && samePrefixes(w.prefixes, withdrawn)) messages.push(...w.messages)
    else {
      const packed = packWithdrawals(withdrawn, max)
      if (share) share.withdrawn = { prefixes: withdrawn, max, messages: shared(packed) }
      messages.push(...packed)
    }
  }
  for (const [path, prefixes] of groups) {
    const attributes = attributesOf(path)
    const g = share?.byAttributes.get(attributes)
    if (g !== undefined && g.max === max && samePrefixes(g.prefixes, prefixes)) {
      for (const m of g.messages) messages.push(m)
      continue
    }
    const packed = packUpdates(attributes, prefixes, ctx, max)
    if (share) share.byAttributes.set(attributes, { prefixes, max, messages: shared(packed) })
    for (const m of packed) messages.push(m)
  }
  return messages
}
