import type { StoredNode } from '../adapters/tree-store.mysql';
import type { FlatNode } from '../schemas';
import { hashAndSerialize } from './tree-walk';

type Json = unknown;

/**
 * RFC 7386 JSON merge patch: `patch`'s fields replace `target`'s, `null` removes one, objects
 * merge field by field, anything else (arrays included) replaces. Written here rather than taken
 * from a package: it is these few lines, and the patch has been validated by the node schema.
 */
export function mergePatch(target: Json, patch: Json): Json {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, Json> =
    typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as object) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** A merged object, or absent when nothing is left in it. */
const orAbsent = <T>(v: Json): T | undefined =>
  v !== null && typeof v === 'object' && Object.keys(v as object).length === 0
    ? undefined
    : ((v ?? undefined) as T);

/**
 * The node an INCREMENTAL upsert (`patch`) makes of what is stored: its content and metadata
 * merged into the stored case's (`stored`, its document), absent ones kept, `null` clearing.
 * A new node takes the patch as it is, nulls dropped. A directory has no document: one whose
 * metadata the patch leaves out keeps its stored hash.
 */
export function applyPatch(
  patch: FlatNode,
  before: StoredNode | undefined,
  stored: { content: FlatNode['content'] | null; metadata: FlatNode['metadata'] | null } | undefined,
): FlatNode {
  if (!patch.patch) return patch;
  const { patch: _flag, hash: _hash, content, metadata, ...rest } = patch;
  const exists = before !== undefined && !before.deleted && before.type === patch.type;
  const base = exists && stored ? stored : { content: undefined, metadata: undefined };
  const merged = (field: Json, given: Json) =>
    given === undefined ? (field ?? undefined) : given === null ? undefined : mergePatch(field ?? {}, given);
  const node = hashAndSerialize({
    ...rest,
    ...(patch.type === 'CASE' ? { content: orAbsent(merged(base.content, content)) } : {}),
    metadata: orAbsent(merged(base.metadata, metadata)),
  }).node;
  for (const k of ['content', 'metadata'] as const) if (node[k] === undefined) delete node[k];
  if (patch.type === 'DIRECTORY' && exists && metadata === undefined && before)
    return { ...node, hash: before.hash };
  return node;
}
