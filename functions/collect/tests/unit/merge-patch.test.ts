import { describe, expect, it } from 'vitest';
import type { StoredNode } from '../../src/adapters/tree-store.mysql';
import { applyPatch, mergePatch } from '../../src/app/merge-patch';
import { hashAndSerialize } from '../../src/app/tree-walk';
import type { FlatNode } from '../../src/schemas';

const flat = (n: Partial<FlatNode>): FlatNode =>
  hashAndSerialize({
    id: 'c',
    type: 'CASE',
    parentId: 'd',
    name: 'Case',
    path: '/d/c',
    level: 2,
    position: 0,
    ...n,
  }).node;

const stored: StoredNode = {
  id: 'c',
  type: 'CASE',
  parentId: 'd',
  name: 'Case',
  path: '/d/c',
  level: 2,
  position: 0,
  hash: 'h',
  deleted: false,
  version: 1,
  validFrom: 1,
  docVersion: 1,
};
const doc = {
  content: { description: 'desc', steps: [{ action: 'a', expected: 'b' }], expectedResults: ['ok'] },
  metadata: { tags: ['x'], priority: 1, status: 'READY' },
};

describe('RFC 7386 merge patch', () => {
  it('replaces, removes with null, merges objects and replaces arrays', () => {
    expect(
      mergePatch({ a: 1, b: { c: 2, d: 3 }, e: [1] }, { a: 9, b: { c: null }, e: [2, 3], f: 'new' }),
    ).toEqual({
      a: 9,
      b: { d: 3 },
      e: [2, 3],
      f: 'new',
    });
    expect(mergePatch({ a: 1 }, 'scalar')).toBe('scalar');
    expect(mergePatch(undefined, { a: null, b: 1 })).toEqual({ b: 1 });
  });
});

describe('an INCREMENTAL upsert merged into the stored case', () => {
  it('keeps content and metadata a rename leaves out', () => {
    const merged = applyPatch(flat({ name: 'Renamed', patch: true }), stored, doc);
    expect(merged).toMatchObject({ name: 'Renamed', content: doc.content, metadata: doc.metadata });
    expect(merged.patch).toBeUndefined();
    expect(merged.hash).toBe(flat({ content: doc.content, metadata: doc.metadata }).hash);
  });

  it('clears a field given as null, and everything when the whole object is null', () => {
    const one = applyPatch(
      flat({ content: { description: null } as never, metadata: { status: 'DONE' }, patch: true }),
      stored,
      doc,
    );
    expect(one.content).toEqual({ steps: doc.content.steps, expectedResults: ['ok'] });
    expect(one.metadata).toEqual({ tags: ['x'], priority: 1, status: 'DONE' });
    const all = applyPatch(flat({ content: null, metadata: null, patch: true }), stored, doc);
    expect(all.content).toBeUndefined();
    expect(all.metadata).toBeUndefined();
  });

  it('takes a new node as given, nulls dropped; leaves a FULL node alone', () => {
    const created = applyPatch(
      flat({ content: { description: 'x', preconditions: null } as never, patch: true }),
      undefined,
      undefined,
    );
    expect(created.content).toEqual({ description: 'x' });
    const full = flat({ content: { description: 'x' } });
    expect(applyPatch(full, stored, doc)).toBe(full);
  });
});
