import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callService, refusalOf } from '../src';

let url = '';
const server = createServer((_req, res) => {
  res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '30' });
  res.end(
    JSON.stringify({ error: { code: 'TOO_MANY_TASKS', message: 'over quota', details: { quota: 1 } } }),
  );
});
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('a refusal of another service', () => {
  it('is passed on as it answered, Retry-After included', async () => {
    const service = { name: 'collect', baseUrl: url, timeoutMs: 5000, signingKey: 'k' };
    const answer = await callService(service, 'acme', 'POST', '/api/tasks', {});
    expect(answer).toMatchObject({ status: 429, retryAfterSeconds: 30 });
    const refusal = refusalOf('collect', answer);
    expect(refusal).toMatchObject({ status: 429, code: 'TOO_MANY_TASKS', retryAfterSeconds: 30 });
    expect(refusalOf('collect', { status: 409, body: {} }).retryAfterSeconds).toBeUndefined();
  });
});
