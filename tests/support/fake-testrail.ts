import type { IncomingMessage } from 'node:http';
import type { TestRailCase, TestRailSection } from '../../functions/collect/src/collectors/testrail';
import { FakeHttpSource, type Send } from './fake-http';

/**
 * A TestRail of our own (API v2 as documented: `index.php?/api/v2/…`, basic auth, bulk answers
 * paged with `limit`/`offset` and `_links.next`), with sections and cases held in maps that a
 * test mutates while a run goes on, and hooks for latency and faults. It counts every request.
 */
export class FakeTestRail extends FakeHttpSource {
  readonly sections = new Map<number, TestRailSection>();
  readonly cases = new Map<number, TestRailCase>();
  user = 'bot@example.com';
  apiKey = 'secret-key-123';
  private nextId = 1;

  settings(extra: Record<string, unknown> = {}) {
    return { baseUrl: this.baseUrl, user: this.user, apiKey: this.apiKey, projectId: 1, ...extra };
  }

  /** The body of `POST /api/tasks` that collects this TestRail into `source` (FULL unless told). */
  run(source: string, strategy: Record<string, unknown>, mode = 'FULL') {
    return { collector: 'testrail', source, mode, settings: this.settings(), strategy };
  }

  /** Seconds, as TestRail stamps `updated_on`. */
  static now(): number {
    return Math.floor(Date.now() / 1000);
  }

  addSection(name: string, parent: number | null = null): number {
    const id = this.nextId++;
    const order = [...this.sections.values()].filter((s) => s.parent_id === parent).length + 1;
    const depth = parent === null ? 0 : (this.sections.get(parent)?.depth ?? 0) + 1;
    this.sections.set(id, { id, name, parent_id: parent, display_order: order, depth });
    return id;
  }

  addCase(section: number, title: string, extra: Partial<TestRailCase> = {}): number {
    const id = this.nextId++;
    const now = FakeTestRail.now();
    this.cases.set(id, {
      id,
      title,
      section_id: section,
      display_order: id,
      priority_id: 2,
      type_id: 1,
      refs: `REF-${id}`,
      estimate: '1m',
      milestone_id: null,
      created_on: now,
      updated_on: now,
      custom_preconds: `pre ${title}`,
      custom_steps_separated: [{ content: `do ${title}`, expected: `see ${title}` }],
      ...extra,
    });
    return id;
  }

  editCase(id: number, change: Partial<TestRailCase>): void {
    const c = this.cases.get(id);
    if (!c) throw new Error(`no case ${id}`);
    this.cases.set(id, { ...c, ...change, updated_on: FakeTestRail.now() });
  }

  protected parse(url: URL) {
    const [api = '', ...pairs] = url.search.slice(1).split('&');
    return { api, params: new URLSearchParams(pairs.join('&')), logged: `${api}&${pairs.join('&')}` };
  }

  protected refuse(req: IncomingMessage) {
    const expected = `Basic ${Buffer.from(`${this.user}:${this.apiKey}`).toString('base64')}`;
    if (req.headers.authorization === expected) return undefined;
    return {
      status: 401,
      body: { error: 'Authentication failed: invalid or missing user/password or session cookie.' },
    };
  }

  protected answer(api: string, params: URLSearchParams, send: Send): undefined {
    const limit = Math.min(250, Number(params.get('limit') ?? 250));
    const offset = Number(params.get('offset') ?? 0);
    const page = <T>(key: string, all: T[]) => {
      const rest = new URLSearchParams(params);
      rest.delete('offset');
      rest.append('offset', String(offset + limit));
      const next = offset + limit < all.length ? `${api}&${rest}` : null;
      return {
        offset,
        limit,
        size: Math.min(limit, Math.max(0, all.length - offset)),
        _links: { next, prev: null },
        [key]: all.slice(offset, offset + limit),
      };
    };
    if (/^\/api\/v2\/get_sections\/\d+$/.test(api)) {
      const all = [...this.sections.values()].sort((a, b) => (a.depth ?? 0) - (b.depth ?? 0) || a.id - b.id);
      return send(200, page('sections', all));
    }
    if (/^\/api\/v2\/get_cases\/\d+$/.test(api)) {
      const section = params.get('section_id');
      const after = params.get('updated_after');
      const before = params.get('updated_before');
      const all = [...this.cases.values()]
        .filter((c) => section === null || c.section_id === Number(section))
        .filter((c) => after === null || (c.updated_on ?? 0) >= Number(after))
        .filter((c) => before === null || (c.updated_on ?? 0) <= Number(before))
        .sort((a, b) => a.id - b.id);
      return send(200, page('cases', all));
    }
    return send(400, { error: `unknown method ${api}` });
  }
}
