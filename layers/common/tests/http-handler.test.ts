import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { HttpError, httpHandler } from '../src';

const event = (body: unknown) =>
  ({ headers: {}, body: JSON.stringify(body), isBase64Encoded: false }) as unknown as APIGatewayProxyEventV2;

describe('httpHandler with exclusiveAboveBytes', () => {
  it('handles one large request at a time, in order, answers 429 past the line, and lets small ones by', async () => {
    const log: string[] = [];
    const gates = new Map<number, () => void>();
    const handler = httpHandler(
      async (req) => {
        const n = (req.body as { n: number }).n;
        log.push(`start ${n}`);
        await new Promise<void>((resolve) => gates.set(n, resolve));
        log.push(`end ${n}`);
        return { status: 200, body: { n } };
      },
      { jsonBody: true, exclusiveAboveBytes: 10 },
    );
    const large = (n: number) => handler(event({ n, pad: 'x'.repeat(20) }), {} as Context);
    const calls = [0, 1, 2, 3, 4, 5].map(large);
    // One runs, four wait; the sixth finds the line full.
    const refused = await calls[5];
    expect(refused?.statusCode).toBe(429);
    expect(refused?.headers?.['retry-after']).toBe('2');
    await expect.poll(() => gates.has(0)).toBe(true);
    // A small request does not wait behind the large one that is running.
    const small = handler(event({ n: 9 }), {} as Context);
    await expect.poll(() => gates.has(9)).toBe(true);
    gates.get(9)?.();
    expect((await small)?.statusCode).toBe(200);
    for (let n = 0; n < 5; n += 1) {
      await expect.poll(() => gates.has(n)).toBe(true);
      expect(gates.has(n + 1)).toBe(false);
      gates.get(n)?.();
    }
    const answers = await Promise.all(calls.slice(0, 5));
    expect(answers.map((a) => a?.statusCode)).toEqual([200, 200, 200, 200, 200]);
    expect(log.filter((l) => !l.endsWith(' 9'))).toEqual(
      [0, 1, 2, 3, 4].flatMap((n) => [`start ${n}`, `end ${n}`]),
    );
  });
});

describe('httpHandler errors', () => {
  it('answers 503 when a dependency is unreachable, 500 for anything else', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5672'), { code: 'ECONNREFUSED' });
    const down = httpHandler(async () => {
      throw refused;
    });
    const broken = httpHandler(async () => {
      throw new Error('a bug');
    });
    const res = await down(event({}), {} as Context);
    expect(res?.statusCode).toBe(503);
    expect(res?.headers?.['retry-after']).toBe('5');
    expect(JSON.parse(String(res?.body))).toMatchObject({ error: { code: 'SERVICE_UNAVAILABLE' } });
    expect((await broken(event({}), {} as Context))?.statusCode).toBe(500);
  });

  it('says when to send a refused request again (Retry-After) when the error knows', async () => {
    const quota = httpHandler(async () => {
      throw new HttpError(429, 'TOO_MANY_TASKS', 'over quota', { quota: 1 }, { retryAfterSeconds: 30 });
    });
    const res = await quota(event({}), {} as Context);
    expect(res?.statusCode).toBe(429);
    expect(res?.headers?.['retry-after']).toBe('30');
    expect(JSON.parse(String(res?.body))).toMatchObject({
      error: { code: 'TOO_MANY_TASKS', details: { quota: 1 } },
    });
    // Every 429 and 503 says when, even when the error does not.
    for (const status of [429, 503]) {
      const plain = httpHandler(async () => {
        throw new HttpError(status, 'BUSY', 'busy');
      });
      const answer = await plain(event({}), {} as Context);
      expect(answer?.headers?.['retry-after'], String(status)).toMatch(/^[1-9]\d*$/);
    }
  });
});
