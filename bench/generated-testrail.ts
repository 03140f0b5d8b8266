import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestRailCase, TestRailSection } from '../functions/collect/src/collectors/testrail';

/**
 * A TestRail (API v2 paging, basic auth) whose sections and cases are computed from their
 * numbers on each request, so 200,000 cases cost no memory: `sections` sections, 10 top-level
 * ones with the rest spread under them, `perSection` cases in each. It counts every page asked
 * for (by section and offset) so the bench can tell a page fetched again.
 */
export class GeneratedTestRail {
  readonly user = 'bench@example.com';
  readonly apiKey = 'bench-key';
  /** Case pages asked for, by `section:offset`. */
  readonly pages = new Map<string, number>();
  requests = 0;
  baseUrl = '';
  private server: Server | undefined;

  constructor(
    readonly sectionCount: number,
    readonly perSection: number,
  ) {}

  get caseCount(): number {
    return this.sectionCount * this.perSection;
  }

  section(id: number): TestRailSection {
    const top = Math.min(10, this.sectionCount);
    const parent = id <= top ? null : ((id - 1) % top) + 1;
    return { id, name: `Section ${id}`, parent_id: parent, display_order: id, depth: parent ? 1 : 0 };
  }

  case(section: number, k: number): TestRailCase {
    const id = section * 100_000 + k;
    return {
      id,
      title: `Case ${id}: the user checks out with a saved card`,
      section_id: section,
      display_order: k,
      priority_id: (id % 4) + 1,
      type_id: 1,
      refs: `JIRA-${id % 997}`,
      estimate: '2m',
      milestone_id: null,
      created_on: 1_700_000_000,
      updated_on: 1_700_000_000,
      custom_preconds: `A signed-in customer with a saved card and ${k % 5} items in the cart.`,
      custom_steps_separated: [
        {
          content: 'Open the cart and press "Check out".',
          expected: 'The payment page shows the saved card.',
        },
        {
          content: 'Choose the saved card and confirm.',
          expected: 'The order is placed and a receipt is shown.',
        },
        { content: `Open order history (case ${id}).`, expected: 'The new order is listed first.' },
      ],
    };
  }

  async start(): Promise<void> {
    const auth = `Basic ${Buffer.from(`${this.user}:${this.apiKey}`).toString('base64')}`;
    const server = createServer((req, res) => {
      this.requests += 1;
      const [api = '', ...pairs] = (req.url ?? '').replace(/^[^?]*\?/, '').split('&');
      const p = new URLSearchParams(pairs.join('&'));
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.headers.authorization !== auth) return send(401, { error: 'Authentication failed' });
      const limit = Math.min(250, Number(p.get('limit') ?? 250));
      const offset = Number(p.get('offset') ?? 0);
      const page = (key: string, total: number, item: (i: number) => unknown) => {
        const items = [];
        for (let i = offset; i < Math.min(total, offset + limit); i += 1) items.push(item(i));
        p.set('offset', String(offset + limit));
        return { _links: { next: offset + limit < total ? `${api}&${p}` : null }, [key]: items };
      };
      if (api.startsWith('/api/v2/get_sections/'))
        return send(
          200,
          page('sections', this.sectionCount, (i) => this.section(i + 1)),
        );
      if (api.startsWith('/api/v2/get_cases/')) {
        const section = Number(p.get('section_id'));
        const key = `${section}:${offset}`;
        this.pages.set(key, (this.pages.get(key) ?? 0) + 1);
        return send(
          200,
          page('cases', this.perSection, (i) => this.case(section, i + 1)),
        );
      }
      send(400, { error: `unknown method ${api}` });
    });
    this.server = server;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    this.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }
}
