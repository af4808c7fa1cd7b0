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
import { makeEndOfRib, packUpdates, packWithdrawals } from './codec/update.js'
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

/** Pending Adj-RIB-Out changes (prefix -> path, or null to withdraw): withdrawals first, then announcements. */
export function packChanges(pending: PrefixMap<Path | null>, attributesOf: AttributesOf, ctx: CodecContext): UpdateMessage[] {
  const withdrawn: Prefix[] = []
  const groups: PathGroups = new Map()
  for (const [prefix, path] of pending.entries()) {
    if (path === null) withdrawn.push(prefix)
    else addToGroup(groups, path, prefix)
  }
  const max = maxMessageLength(ctx)
  const messages: UpdateMessage[] = withdrawn.length > 0 ? packWithdrawals(withdrawn, max) : []
  for (const [path, prefixes] of groups) messages.push(...packUpdates(attributesOf(path), prefixes, ctx, max))
  return messages
}
