import { createHash } from 'node:crypto';
import { collectorRoute } from '@collect/common';
import {
  CollectError,
  type Collector,
  type PageContext,
  type PlanContext,
  type PlanStep,
  split,
} from '@collect/core';
import { z } from 'zod';
import type { TreeRecord } from '../adapters/tree-pages';
import { caseContentSchema, caseMetadataSchema, nodeIdSchema, nodeSchema } from '../schemas';
import { getJson } from './http-source';
import { baseUrlSchema } from './testrail';
import { parentsFirst, subtreeOf } from './tree-order';

/**
 * The generic paginated HTTP tree source (`http-tree`): a small JSON contract any team can
 * expose (README, "Generic HTTP source"):
 *
 *   GET {baseUrl}/directories?limit=&cursor=[&root=]
 *     → { items: [{ id, parentId, name, position? }], next: cursor | null }
 *   GET {baseUrl}/cases?directoryId=&limit=&cursor=[&updatedSince=][&updatedBefore=]
 *     → { items: [{ id, name, position?, content?, metadata?, updatedAt? }], next: cursor | null }
 *
 * Cursors are opaque strings. `root` asks for one directory and everything under it (the
 * subtree filter); `updatedSince` (inclusive) and `updatedBefore` (exclusive) are ISO-8601
 * instants on a case's last change. A bearer token is sent when the settings have one.
 */
export const httpTreeSettingsSchema = z.strictObject({
  baseUrl: baseUrlSchema,
  token: z.string().min(1).max(4096).optional(),
});
export type HttpTreeSettings = z.infer<typeof httpTreeSettingsSchema>;

const cursorSchema = z.string().min(1).max(2048).nullable();

/** Names as imports take them: valid Unicode, not blank, at most 255 characters. */
const nameSchema = nodeSchema.shape.name;

const directorySchema = z.object({
  id: nodeIdSchema,
  parentId: nodeIdSchema.nullable(),
  name: nameSchema,
  position: z.number().int().min(0).optional(),
});
export type HttpTreeDirectory = z.infer<typeof directorySchema>;

/** Metadata keeps any other field the source sends, as TestRail's does. */
const caseSchema = z.object({
  id: nodeIdSchema,
  name: nameSchema,
  position: z.number().int().min(0).optional(),
  content: caseContentSchema.optional(),
  metadata: z.looseObject(caseMetadataSchema.shape).optional(),
  updatedAt: z.string().optional(),
});
export type HttpTreeCase = z.infer<typeof caseSchema>;

const envelopeSchema = z.object({ items: z.array(z.unknown()).max(10_000), next: cursorSchema });

/** A case shard: the directories whose cases it reads, in order. */
export interface HttpTreeSpec {
  directories: string[];
}

/**
 * Which directory, the source's cursor inside it (`null`: its first page), and what keeps a
 * source whose cursors go round in circles from being paged for ever: digests of the cursors
 * this directory has given lately, and how many pages it has given.
 */
export interface HttpTreeCursor {
  i: number;
  next: string | null;
  seen?: string[];
  pages?: number;
}

/** Cursors remembered per directory (a loop longer than this is still ended by MAX_DIRECTORY_PAGES). */
const SEEN_CURSORS = 32;
/** Pages one directory may take: 10 million cases at 100 a page. */
export const MAX_DIRECTORY_PAGES = 100_000;
const digest = (cursor: string): string => createHash('sha1').update(cursor).digest('base64url').slice(0, 12);

/** Directories are held while planning (to order them parents first); more is refused. */
export const MAX_DIRECTORIES = 200_000;
const MAX_PAGE = 1000;
const PLAN_PAGE = 1000;

function client(s: HttpTreeSettings, limits: { timeoutMs: number; maxBytes: number }) {
  const headers: Record<string, string> = s.token ? { authorization: `Bearer ${s.token}` } : {};
  const base = s.baseUrl.replace(/\/+$/, '');
  return async (path: 'directories' | 'cases', params: Record<string, string | undefined>) => {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined) query.set(k, v);
    const what = `GET /${path}?${query}`;
    const body = await getJson('the http-tree source', `${base}/${path}?${query}`, what, {
      headers,
      ...limits,
    });
    const page = envelopeSchema.safeParse(body);
    if (!page.success)
      throw new CollectError(
        'shard-fatal',
        `the http-tree source broke its contract on ${what}: ${page.error.issues
          .map((i) => `${i.path.join('.') || 'body'}: ${i.message}`)
          .join('; ')}`,
      );
    if (page.data.next !== null && page.data.next === params.cursor)
      throw new CollectError(
        'shard-fatal',
        `the http-tree source answered ${what} with the same cursor again`,
      );
    return page.data;
  };
}

/**
 * Planning lists every directory (or, for RANGE by `rootId`, the subtree the source answers to
 * `root`) and writes them parents first; the directories whose cases are read are split into
 * `strategy.shards` shards, and a shard pages through `GET /cases` directory by directory.
 * Items that break the contract are counted as failed records, not stored.
 */
export function httpTreeCollector(opts: {
  timeoutMs: number;
  maxBytes: number;
  version?: string;
}): Collector<HttpTreeSettings, HttpTreeSpec, HttpTreeCursor, unknown, TreeRecord> {
  const version = opts.version ?? '1';
  return {
    type: 'http-tree',
    version,
    route: collectorRoute('http-tree', version),
    settings: httpTreeSettingsSchema,
    secrets: ['token'],

    async *plan(ctx: PlanContext<HttpTreeSettings>): AsyncIterable<PlanStep<HttpTreeSpec, TreeRecord>> {
      const get = client(ctx.settings, opts);
      const range = ctx.task.range;
      const root = range && 'rootId' in range ? range.rootId : undefined;
      const directories: HttpTreeDirectory[] = [];
      const rejected: string[] = [];
      const ids = new Set<string>();
      let cursor: string | null = null;
      do {
        await ctx.throttle();
        const page = await get('directories', {
          limit: String(PLAN_PAGE),
          cursor: cursor ?? undefined,
          root,
        });
        for (const item of page.items) {
          const d = directorySchema.safeParse(item);
          if (!d.success) rejected.push(refusal(item, d.error.issues));
          else if (ids.has(d.data.id)) rejected.push(`${d.data.id}: listed twice (the first is kept)`);
          else {
            ids.add(d.data.id);
            directories.push(d.data);
          }
        }
        if (directories.length > MAX_DIRECTORIES)
          throw new CollectError('task-fatal', `the source lists more than ${MAX_DIRECTORIES} directories`);
        cursor = page.next;
      } while (cursor !== null);
      const ordered = parentsFirst(
        placed(directories, root, rejected),
        (d) => d.id,
        (d) => d.parentId,
        (a, b) => (a.position ?? 0) - (b.position ?? 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
      );
      if (rejected.length > 0) yield { records: [], rejected };
      for (let i = 0; i < ordered.length; i += PLAN_PAGE)
        yield {
          records: ordered.slice(i, i + PLAN_PAGE).map((d) => ({
            id: d.id,
            type: 'DIRECTORY' as const,
            parentId: d.parentId,
            name: d.name,
            position: d.position ?? 0,
          })),
        };
      let chosen = ordered;
      if (root !== undefined) {
        if (!ordered.some((d) => d.id === root))
          throw new CollectError('task-fatal', `rootId "${root}" is not a directory of this source`);
        // A source that ignores `root` answers everything: keep the subtree only.
        chosen = subtreeOf(
          ordered,
          root,
          (d) => d.id,
          (d) => d.parentId,
        );
      }
      for (const group of split(
        chosen.map((d) => d.id),
        ctx.strategy.shards,
      ))
        yield { shard: { directories: group } };
    },

    async fetchPage(ctx: PageContext<HttpTreeSettings, HttpTreeSpec>, cursor: HttpTreeCursor | null) {
      const at = cursor ?? { i: 0, next: null };
      const directoryId = ctx.spec.directories[at.i];
      if (directoryId === undefined) return { items: [], next: null };
      const range = ctx.task.range;
      const since =
        ctx.task.mode === 'INCREMENTAL' && ctx.task.since
          ? ctx.task.since
          : range && 'updatedAfter' in range
            ? range.updatedAfter
            : undefined;
      const page = await client(ctx.settings, opts)('cases', {
        directoryId,
        limit: String(Math.min(MAX_PAGE, Math.max(1, ctx.strategy.pageSize))),
        cursor: at.next ?? undefined,
        updatedSince: since,
        updatedBefore: range && 'updatedBefore' in range ? range.updatedBefore : undefined,
      });
      const items: TreeRecord[] = [];
      const reasons: string[] = [];
      const ids = new Set<string>();
      for (const raw of page.items) {
        const c = caseSchema.safeParse(raw);
        if (!c.success) reasons.push(refusal(raw, c.error.issues));
        else if (ids.has(c.data.id)) reasons.push(`${c.data.id}: twice on one page (the first is kept)`);
        else {
          ids.add(c.data.id);
          items.push(caseRecord(c.data, directoryId));
        }
      }
      let next: HttpTreeCursor | null = null;
      if (page.next !== null) {
        const seen = at.seen ?? [];
        const pages = (at.pages ?? 0) + 1;
        if (seen.includes(digest(page.next)))
          throw new CollectError(
            'shard-fatal',
            `the http-tree source's cursors go round in a circle in directory "${directoryId}"`,
          );
        if (pages >= MAX_DIRECTORY_PAGES)
          throw new CollectError(
            'shard-fatal',
            `directory "${directoryId}" gave more than ${MAX_DIRECTORY_PAGES} pages`,
          );
        next = { i: at.i, next: page.next, seen: [...seen, digest(page.next)].slice(-SEEN_CURSORS), pages };
      } else if (at.i + 1 < ctx.spec.directories.length) next = { i: at.i + 1, next: null };
      return { items, next, rejected: page.items.length - items.length, reasons };
    },

    map: (items) => items as TreeRecord[],
  };
}

function caseRecord(c: HttpTreeCase, directoryId: string): TreeRecord {
  return {
    id: c.id,
    type: 'CASE',
    parentId: directoryId,
    name: c.name,
    position: c.position ?? 0,
    ...(c.content ? { content: c.content } : {}),
    ...(c.metadata ? { metadata: c.metadata as TreeRecord['metadata'] } : {}),
  };
}

/** Why an item was refused: its id (when it has one) and the first problem. */
function refusal(item: unknown, issues: readonly { path: PropertyKey[]; message: string }[]): string {
  const id = (item as { id?: unknown } | null)?.id;
  const issue = issues[0];
  const where = issue?.path.map(String).join('.') || 'item';
  return `${typeof id === 'string' ? id.slice(0, 128) : '(no id)'}: ${where}: ${issue?.message ?? 'not valid'}`;
}

/**
 * The directories that have a place: a parent the source lists (or none), and a chain of
 * parents that reaches a top-level directory. The others are refused with the reason (their
 * parent is not listed, or their parents form a cycle). With `root` (RANGE), the root's own
 * parent lies outside the listing and is not needed.
 */
function placed(all: HttpTreeDirectory[], root: string | undefined, rejected: string[]): HttpTreeDirectory[] {
  const byId = new Map(all.map((d) => [d.id, d]));
  const ok = new Map<string, boolean>();
  const resolve = (d: HttpTreeDirectory): boolean => {
    const trail: HttpTreeDirectory[] = [];
    const onTrail = new Set<string>();
    let at: HttpTreeDirectory | undefined = d;
    let verdict = true;
    let why = '';
    while (at) {
      const known = ok.get(at.id);
      if (known !== undefined) {
        verdict = known;
        why = 'an ancestor was refused';
        break;
      }
      if (onTrail.has(at.id)) {
        verdict = false;
        why = 'its parents form a cycle';
        break;
      }
      trail.push(at);
      onTrail.add(at.id);
      if (at.parentId === null || at.id === root) break;
      const parent = byId.get(at.parentId);
      if (!parent) {
        verdict = false;
        why = `its parent "${at.parentId}" is not listed`;
        break;
      }
      at = parent;
    }
    for (const t of trail) {
      ok.set(t.id, verdict);
      if (!verdict) rejected.push(`${t.id}: ${t === trail.at(-1) ? why : 'an ancestor was refused'}`);
    }
    return verdict;
  };
  return all.filter(resolve);
}
