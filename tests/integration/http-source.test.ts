import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CollectError } from '@collect/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson } from '../../functions/collect/src/collectors/http-source';

// A source of our own: `/big?n=` answers n bytes (chunked or with a length), `/echo` answers 400
// with the request's Authorization header in its body.
let server: Server;
let base = '';
beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/big') {
      const n = Number(url.searchParams.get('n'));
      const body = JSON.stringify({ items: ['x'.repeat(n)] });
      if (url.searchParams.get('length') === '1') res.setHeader('content-length', Buffer.byteLength(body));
      res.writeHead(200, { 'content-type': 'application/json' });
      // In pieces, as a large answer streams.
      for (let i = 0; i < body.length; i += 1000) res.write(body.slice(i, i + 1000));
      return res.end();
    }
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ youSent: req.headers.authorization }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

const opts = (headers: Record<string, string> = {}) => ({ headers, timeoutMs: 5000, maxBytes: 10_000 });

describe('a GET of a source', () => {
  it('reads an answer within the byte cap', async () => {
    expect(await getJson('src', `${base}/big?n=5000`, 'GET /big', opts())).toEqual({
      items: ['x'.repeat(5000)],
    });
  });

  it('fails the shard on an answer over the cap, streamed or announced, without reading it all', async () => {
    for (const url of [`${base}/big?n=50000`, `${base}/big?n=50000&length=1`]) {
      const err = await getJson('src', url, 'GET /big', opts()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CollectError);
      expect(err).toMatchObject({
        kind: 'shard-fatal',
        message: expect.stringMatching(/more than 10000 bytes/),
      });
    }
  });

  it('masks the credentials a source echoes in an error body, in every form', async () => {
    const basic = `Basic ${Buffer.from('bot@acme.io:SECRETKEY123').toString('base64')}`;
    for (const auth of [basic, 'Bearer sekret-token-xyz']) {
      const err = (await getJson('src', `${base}/echo`, 'GET /echo', opts({ authorization: auth })).catch(
        (e: unknown) => e,
      )) as Error;
      expect(err.message).toMatch(/answered 400/);
      expect(err.message).not.toMatch(/SECRETKEY123|sekret-token-xyz|Ym90QGFjbWUuaW86U0VDUkVUS0VZMTIz/);
      expect(err.message).toContain('***');
    }
  });
});
