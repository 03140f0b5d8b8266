import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createHttpInvoker,
  invokeUrl,
  isLambdaApiUnavailable,
  responseError,
  waitForInvokeApi,
} from '../src/invoker';

describe('responseError (serverless-offline 14 responses)', () => {
  it('accepts a plain 200 result', () => {
    expect(responseError(200, null, '{"ok":true}')).toBeNull();
    expect(responseError(200, null, '')).toBeNull();
    expect(responseError(200, null, '"a string"')).toBeNull();
  });

  it('flags a thrown error and the offline timeout (200 + X-Amz-Function-Error)', () => {
    const thrown = '{"errorMessage":"kaboom","errorType":"Error","trace":["Error: kaboom"]}';
    expect(responseError(200, 'Unhandled', thrown)).toBe('Unhandled: Error: kaboom');
    const timeout = '{"errorMessage":"[504] - Lambda timeout.","errorType":"Error","trace":[]}';
    expect(responseError(200, 'Unhandled', timeout)).toContain('Lambda timeout');
  });

  it('flags an error payload without the header, and non-200 statuses', () => {
    expect(responseError(200, null, '{"errorMessage":"bad","errorType":"Fake"}')).toBe('Fake: bad');
    expect(responseError(404, null, '{"Message":"Function not found: x","Type":"User"}')).toBe(
      'HTTP 404: Function not found: x',
    );
    expect(responseError(502, null, 'Bad Gateway')).toBe('HTTP 502: Bad Gateway');
  });
});

describe('createHttpInvoker', () => {
  let server: Server;
  let base = '';
  const seen: Array<{ url: string | undefined; body: string }> = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        seen.push({ url: req.url, body });
        if (req.url?.includes('/hang/')) return; // never answers: exercises the timeout
        if (req.url?.includes('/drop/')) {
          req.socket.destroy(); // serverless-offline killed mid-invocation
          return;
        }
        if (req.url?.includes('/fail/')) {
          res.writeHead(500).end('oops');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('POSTs the event as JSON to the Invoke API path', async () => {
    const result = await createHttpInvoker(base)('collect-dev-importChunk', { a: 1 }, 5_000);
    expect(result.ok).toBe(true);
    expect(seen.at(-1)).toEqual({
      url: '/2015-03-31/functions/collect-dev-importChunk/invocations',
      body: '{"a":1}',
    });
    expect(invokeUrl('http://h:1/', 'f')).toBe('http://h:1/2015-03-31/functions/f/invocations');
  });

  it('reports a timeout, which is not "unavailable" (the function may be stuck)', async () => {
    const result = await createHttpInvoker(`${base}/hang`)('f', {}, 200);
    expect(result).toMatchObject({
      ok: false,
      error: 'invocation timed out after 200 ms',
      unavailable: false,
    });
  });

  it('reports a non-200 answer as a failure of the function, not of the API', async () => {
    const result = await createHttpInvoker(`${base}/fail`)('f', {}, 2_000);
    expect(result).toMatchObject({ ok: false, error: 'HTTP 500: oops', unavailable: false });
  });

  it('reports a connection dropped before the answer as "unavailable"', async () => {
    const result = await createHttpInvoker(`${base}/drop`)('f', {}, 2_000);
    expect(result).toMatchObject({ ok: false, unavailable: true });
    expect(result.ok ? '' : result.error).toMatch(/UND_ERR_SOCKET|ECONNRESET/);
  });

  it('waits for the Invoke API to answer, and says so when it never does', async () => {
    await expect(waitForInvokeApi(base, 1_000)).resolves.toBeUndefined();
    const port = await freePort();
    await expect(waitForInvokeApi(`http://127.0.0.1:${port}`, 150, 50)).rejects.toThrow(
      /not reachable.*ECONNREFUSED/,
    );
  });

  it('reports connection refused', async () => {
    const port = await freePort();
    const result = await createHttpInvoker(`http://127.0.0.1:${port}`)('f', {}, 2_000);
    expect(result).toMatchObject({ ok: false, unavailable: true });
    expect(result.ok ? '' : result.error).toContain('ECONNREFUSED');
  });
});

describe('isLambdaApiUnavailable', () => {
  const withCode = (code: string, message = code): Error => Object.assign(new Error(message), { code });
  const fetchFailed = (cause?: unknown): TypeError =>
    cause === undefined ? new TypeError('fetch failed') : new TypeError('fetch failed', { cause });

  it('recognises connection-level failures, also nested or aggregated', () => {
    expect(isLambdaApiUnavailable(fetchFailed(withCode('ECONNREFUSED')))).toBe(true);
    expect(isLambdaApiUnavailable(fetchFailed(withCode('ECONNRESET')))).toBe(true);
    expect(isLambdaApiUnavailable(fetchFailed(withCode('UND_ERR_SOCKET', 'other side closed')))).toBe(true);
    expect(
      isLambdaApiUnavailable(new TypeError('terminated', { cause: new Error('other side closed') })),
    ).toBe(true);
    expect(isLambdaApiUnavailable(fetchFailed(new AggregateError([withCode('ECONNREFUSED')])))).toBe(true);
    expect(isLambdaApiUnavailable(fetchFailed())).toBe(true);
  });

  it('leaves timeouts, malformed answers and unknown causes counted as failures', () => {
    expect(isLambdaApiUnavailable(new DOMException('timed out', 'TimeoutError'))).toBe(false);
    expect(isLambdaApiUnavailable(fetchFailed(withCode('UND_ERR_HEADERS_TIMEOUT')))).toBe(false);
    expect(isLambdaApiUnavailable(fetchFailed(withCode('HPE_INVALID_CONSTANT')))).toBe(false);
    expect(isLambdaApiUnavailable(fetchFailed(new Error('bad port')))).toBe(false);
    expect(isLambdaApiUnavailable(new Error('boom'))).toBe(false);
    expect(isLambdaApiUnavailable('ECONNREFUSED')).toBe(false);
  });
});

/** A port nothing listens on (bound once, then released). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
