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
import { getJson } from './http-source';
import { parentsFirst, subtreeOf } from './tree-order';

/** `u` as a URL, or undefined when it is none. */
const asUrl = (u: string): URL | undefined => {
  try {
    return new URL(u);
  } catch {
    return undefined;
  }
};

/** Where a source lives: http(s), no credentials, query or fragment in the URL. */
export const baseUrlSchema = z
  .string()
  .max(2048)
  .superRefine((u, ctx) => {
    const url = asUrl(u);
    if (!url) ctx.addIssue({ code: 'custom', message: 'must be a URL' });
    else if (!/^https?:$/.test(url.protocol))
      ctx.addIssue({ code: 'custom', message: 'must be an http or https URL' });
    else if (url.username || url.password || url.search || url.hash)
      ctx.addIssue({ code: 'custom', message: 'must not carry credentials, a query or a fragment' });
  });

export const testRailSettingsSchema = z.strictObject({
  baseUrl: baseUrlSchema,
  user: z.string().min(1).max(256),
  apiKey: z.string().min(1).max(512),
  projectId: z.number().int().positive(),
  suiteId: z.number().int().positive().optional(),
});
export type TestRailSettings = z.infer<typeof testRailSettingsSchema>;

export interface TestRailSection {
  id: number;
  name: string;
  parent_id: number | null;
  display_order?: number;
  depth?: number;
}

export interface TestRailCase {
  id: number;
  title: string;
  section_id: number;
  display_order?: number;
  priority_id?: number | null;
  type_id?: number | null;
  refs?: string | null;
  estimate?: string | null;
  milestone_id?: number | null;
  created_on?: number;
  updated_on?: number;
  custom_preconds?: string | null;
  custom_steps?: string | null;
  custom_expected?: string | null;
  custom_steps_separated?: { content?: string | null; expected?: string | null }[] | null;
}

/** A case shard: sections whose cases it collects, in order. */
export interface TestRailSpec {
  sections: number[];
}

/** Which section, and TestRail's link to the next page of it (`null`: its first page). */
export interface TestRailCursor {
  i: number;
  next: string | null;
}

/** TestRail's most records per page. */
const MAX_PAGE = 250;
const PLAN_CHUNK = 1000;

export const sectionId = (id: number): string => `S${id}`;
export const caseId = (id: number): string => `C${id}`;

/** `S12` or `12` → 12. */
function sectionNumber(rootId: string): number | undefined {
  const m = /^S?(\d{1,12})$/.exec(rootId);
  return m ? Number(m[1]) : undefined;
}

class TestRailClient {
  constructor(
    private readonly s: TestRailSettings,
    private readonly limits: { timeoutMs: number; maxBytes: number },
  ) {}

  private auth(): Record<string, string> {
    return { authorization: `Basic ${Buffer.from(`${this.s.user}:${this.s.apiKey}`).toString('base64')}` };
  }

  /** `api` is the part after `index.php?/api/v2/`, or a `_links.next` value (`/api/v2/…`). */
  async get(api: string): Promise<unknown> {
    const path = api.startsWith('/api/v2/') ? api : `/api/v2/${api}`;
    const url = `${this.s.baseUrl.replace(/\/+$/, '')}/index.php?${path}`;
    return getJson('TestRail', url, `GET ${path}`, { headers: this.auth(), ...this.limits });
  }

  suiteParam(): string {
    return this.s.suiteId !== undefined ? `&suite_id=${this.s.suiteId}` : '';
  }
}

/** TestRail ≥ 6.7 pages bulk answers (`{ _links, sections | cases }`); older ones send the array. */
function pageOf<T>(body: unknown, key: 'sections' | 'cases'): { items: T[]; next: string | null } {
  if (Array.isArray(body)) return { items: body as T[], next: null };
  const b = body as { [k: string]: unknown; _links?: { next?: string | null } } | null;
  const items = b?.[key];
  if (!Array.isArray(items)) throw new CollectError('retryable', `TestRail sent no "${key}" list`);
  return {
    items: items as T[],
    next: typeof b?._links?.next === 'string' && b._links.next ? b._links.next : null,
  };
}

const epochSeconds = (iso: string): number => Math.floor(Date.parse(iso) / 1000);

/**
 * TestRail (API v2, HTTP basic auth with an API key). Sections become directories `S{id}`,
 * cases become cases `C{id}` in `S{section_id}`. Planning lists every section (they carry no
 * update time, so every mode writes the structure in full), then splits the sections to collect
 * cases from into `strategy.shards` shards; a shard pages through `get_cases` section by
 * section, following `_links.next`.
 */
export function testRailCollector(opts: {
  timeoutMs: number;
  maxBytes: number;
  version?: TestRailVersion;
}): Collector<TestRailSettings, TestRailSpec, TestRailCursor, TestRailCase, TreeRecord> {
  const version = opts.version ?? '1';
  return {
    type: 'testrail',
    version,
    route: collectorRoute('testrail', version),
    settings: testRailSettingsSchema,
    secrets: ['apiKey'],

    async *plan(ctx: PlanContext<TestRailSettings>): AsyncIterable<PlanStep<TestRailSpec, TreeRecord>> {
      const client = new TestRailClient(ctx.settings, opts);
      const sections: TestRailSection[] = [];
      let next: string | null =
        `get_sections/${ctx.settings.projectId}${client.suiteParam()}&limit=${MAX_PAGE}`;
      while (next) {
        await ctx.throttle();
        const page: { items: TestRailSection[]; next: string | null } = pageOf<TestRailSection>(
          await client.get(next),
          'sections',
        );
        sections.push(...page.items);
        next = page.next;
      }
      const ordered = sectionsParentsFirst(sections);
      for (let i = 0; i < ordered.length; i += PLAN_CHUNK) {
        yield {
          records: ordered.slice(i, i + PLAN_CHUNK).map((s) => ({
            id: sectionId(s.id),
            type: 'DIRECTORY',
            parentId: s.parent_id ? sectionId(s.parent_id) : null,
            name: s.name,
            position: s.display_order ?? 0,
          })),
        };
      }
      let chosen = ordered;
      const range = ctx.task.range;
      if (range && 'rootId' in range) {
        const root = sectionNumber(range.rootId);
        if (root === undefined || !sections.some((s) => s.id === root))
          throw new CollectError('task-fatal', `rootId "${range.rootId}" is not a section of this project`);
        chosen = subtreeOf(
          ordered,
          root,
          (s) => s.id,
          (s) => s.parent_id ?? null,
        );
      }
      for (const group of split(
        chosen.map((s) => s.id),
        ctx.strategy.shards,
      ))
        yield { shard: { sections: group } };
    },

    async fetchPage(ctx: PageContext<TestRailSettings, TestRailSpec>, cursor: TestRailCursor | null) {
      const client = new TestRailClient(ctx.settings, opts);
      const at = cursor ?? { i: 0, next: null };
      const section = ctx.spec.sections[at.i];
      if (section === undefined) return { items: [], next: null };
      const limit = Math.min(MAX_PAGE, Math.max(1, ctx.strategy.pageSize));
      let api = at.next;
      if (!api) {
        api = `get_cases/${ctx.settings.projectId}${client.suiteParam()}&section_id=${section}&limit=${limit}`;
        const range = ctx.task.range;
        if (ctx.task.mode === 'INCREMENTAL' && ctx.task.since)
          api += `&updated_after=${epochSeconds(ctx.task.since)}`;
        if (range && 'updatedAfter' in range) {
          api += `&updated_after=${epochSeconds(range.updatedAfter)}`;
          if (range.updatedBefore) api += `&updated_before=${epochSeconds(range.updatedBefore)}`;
        }
      }
      const page = pageOf<TestRailCase>(await client.get(api), 'cases');
      const next: TestRailCursor | null = page.next
        ? { i: at.i, next: page.next }
        : at.i + 1 < ctx.spec.sections.length
          ? { i: at.i + 1, next: null }
          : null;
      return { items: page.items, next };
    },

    map: (items) => items.map(version === '2' ? caseRecordV2 : caseRecord),
  };
}

/**
 * The versions of the TestRail collector. They read TestRail alike and differ in the case
 * document they store: version 2 keeps `refs` as a list of strings (TestRail sends one
 * comma-separated string) beside the estimate, so a gray release of it can be told apart.
 */
export type TestRailVersion = '1' | '2';
export const TESTRAIL_VERSIONS: readonly TestRailVersion[] = ['1', '2'];

/** Version 2's case: version 1's, with `refs` split into a list (`[]` when there are none). */
export function caseRecordV2(c: TestRailCase): TreeRecord {
  const record = caseRecord(c);
  const refs = (c.refs ?? '')
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r.length > 0);
  return {
    ...record,
    metadata: { ...record.metadata, refs, estimate: c.estimate ?? null } as TreeRecord['metadata'],
  };
}

/** A TestRail case as a tree node: the seed's content shape, the other fields in metadata. */
export function caseRecord(c: TestRailCase): TreeRecord {
  const steps = Array.isArray(c.custom_steps_separated)
    ? c.custom_steps_separated.map((s) => ({ action: s.content ?? '', expected: s.expected ?? '' }))
    : c.custom_steps || c.custom_expected
      ? [{ action: c.custom_steps ?? '', expected: c.custom_expected ?? '' }]
      : [];
  const metadata: Record<string, unknown> = {
    priority: c.priority_id ?? null,
    type: c.type_id ?? null,
    refs: c.refs ?? null,
    estimate: c.estimate ?? null,
    milestone: c.milestone_id ?? null,
    createdOn: c.created_on ?? null,
    updatedOn: c.updated_on ?? null,
  };
  return {
    id: caseId(c.id),
    type: 'CASE',
    parentId: sectionId(c.section_id),
    name: c.title,
    position: c.display_order ?? c.id,
    content: {
      ...(c.custom_preconds ? { preconditions: c.custom_preconds } : {}),
      steps,
    } as TreeRecord['content'],
    metadata: metadata as TreeRecord['metadata'],
  };
}

/** Sections ordered so that every parent comes before its children (depth-first, by display order). */
export const sectionsParentsFirst = (sections: TestRailSection[]): TestRailSection[] =>
  parentsFirst(
    sections,
    (s) => s.id,
    (s) => s.parent_id ?? null,
    (a, b) => (a.display_order ?? 0) - (b.display_order ?? 0) || a.id - b.id,
  );
