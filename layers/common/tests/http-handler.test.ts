import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { httpHandler } from '../src';

const event = (body: unknown) =>
  ({ headers: {}, body: JSON.stringify(body), isBase64Encoded: false }) as unknown as APIGatewayProxyEventV2;

describe('httpHandler with exclusive', () => {
  it('handles one request at a time, in arrival order, and answers 429 past the waiting line', async () => {
    const log: string[] = [];
    const gates: (() => void)[] = [];
    const handler = httpHandler(
      async (req) => {
        const n = (req.body as { n: number }).n;
        log.push(`start ${n}`);
        await new Promise<void>((resolve) => gates.push(resolve));
        log.push(`end ${n}`);
        return { status: 200, body: { n } };
      },
      { jsonBody: true, exclusive: true },
    );
    const calls = [0, 1, 2, 3, 4, 5].map((n) => handler(event({ n }), {} as Context));
    // One runs, four wait; the sixth finds the line full.
    expect((await calls[5])?.statusCode).toBe(429);
    for (let i = 0; i < 5; i += 1) {
      await expect.poll(() => gates.length).toBe(i + 1);
      gates[i]?.();
    }
    const answers = await Promise.all(calls.slice(0, 5));
    expect(answers.map((a) => a?.statusCode)).toEqual([200, 200, 200, 200, 200]);
    expect(log).toEqual([0, 1, 2, 3, 4].flatMap((n) => [`start ${n}`, `end ${n}`]));
  });
});
