import type { IncomingMessage } from 'node:http';
import { FakeHttpSource, type Send } from './fake-http';

export interface SourceDirectory {
  id: string;
  parentId: string | null;
  name: string;
  position: number;
}

export interface SourceCase {
  id: string;
  directoryId: string;
  name: string;
  position: number;
  content?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  updatedAt: string;
}

/**
 * An example server of the generic `http-tree` contract (README, "Generic HTTP source"):
 * `GET /directories?limit&cursor&root` and `GET /cases?directoryId&limit&cursor&updatedSince&
 * updatedBefore`, answering `{ items, next }` with an opaque cursor (here: an offset, base64url
 * encoded), behind a bearer token. Its data sit in maps a test mutates while a run goes on.
 */
export class FakeTreeSource extends FakeHttpSource {
  readonly directories = new Map<string, SourceDirectory>();
  readonly cases = new Map<string, SourceCase>();
  token = 'tree-token-456';
  private clock = Date.parse('2026-01-01T00:00:00Z');

  settings(extra: Record<string, unknown> = {}) {
    return { baseUrl: this.baseUrl, token: this.token, ...extra };
  }

  /** Strictly increasing instants, so "changed since" is exact whatever the wall clock does. */
  private tick(): string {
    this.clock = Math.max(this.clock + 1, Date.now());
    return new Date(this.clock).toISOString();
  }

  addDirectory(id: string, name: string, parentId: string | null = null): string {
    const position = [...this.directories.values()].filter((d) => d.parentId === parentId).length;
    this.directories.set(id, { id, name, parentId, position });
    return id;
  }

  addCase(id: string, directoryId: string, name: string, extra: Partial<SourceCase> = {}): string {
    this.cases.set(id, {
      id,
      directoryId,
      name,
      position: this.cases.size,
      content: { preconditions: `pre ${name}`, steps: [{ action: `do ${name}`, expected: `see ${name}` }] },
      metadata: { priority: 1, tags: ['smoke'], owner: 'qa' },
      ...extra,
      updatedAt: this.tick(),
    });
    return id;
  }

  editCase(id: string, change: Partial<SourceCase>): void {
    const c = this.cases.get(id);
    if (!c) throw new Error(`no case ${id}`);
    this.cases.set(id, { ...c, ...change, updatedAt: this.tick() });
  }

  protected parse(url: URL) {
    return { api: url.pathname, params: url.searchParams, logged: `${url.pathname}${url.search}` };
  }

  protected refuse(req: IncomingMessage) {
    return req.headers.authorization === `Bearer ${this.token}`
      ? undefined
      : { status: 401, body: { error: 'bad token' } };
  }

  protected answer(api: string, params: URLSearchParams, send: Send): undefined {
    const limit = Math.max(1, Math.min(1000, Number(params.get('limit') ?? 100)));
    const cursor = params.get('cursor');
    const offset = cursor ? Number(Buffer.from(cursor, 'base64url').toString()) : 0;
    const page = <T>(all: T[]) => ({
      items: all.slice(offset, offset + limit),
      next: offset + limit < all.length ? Buffer.from(String(offset + limit)).toString('base64url') : null,
    });
    const byPlace = <T extends { position: number; id: string }>(a: T, b: T) =>
      a.position - b.position || a.id.localeCompare(b.id);
    if (api === '/directories') {
      const root = params.get('root');
      let all = [...this.directories.values()].sort(byPlace);
      if (root !== null) {
        if (!this.directories.has(root)) return send(404, { error: `no directory ${root}` });
        const inside = new Set([root]);
        let grew = true;
        while (grew) {
          grew = false;
          for (const d of all)
            if (d.parentId !== null && inside.has(d.parentId) && !inside.has(d.id)) {
              inside.add(d.id);
              grew = true;
            }
        }
        all = all.filter((d) => inside.has(d.id));
      }
      return send(200, page(all));
    }
    if (api === '/cases') {
      const dir = params.get('directoryId');
      const since = params.get('updatedSince');
      const before = params.get('updatedBefore');
      const all = [...this.cases.values()]
        .filter((c) => c.directoryId === dir)
        .filter((c) => since === null || Date.parse(c.updatedAt) >= Date.parse(since))
        .filter((c) => before === null || Date.parse(c.updatedAt) < Date.parse(before))
        .sort(byPlace)
        .map(({ directoryId: _, ...c }) => c);
      return send(200, page(all));
    }
    return send(404, { error: `no route ${api}` });
  }
}
