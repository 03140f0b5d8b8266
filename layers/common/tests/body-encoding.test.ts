import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeBody, encodeBody, GZIP, NonRetryableError } from '../src';

describe('message body encoding', () => {
  const json = Buffer.from(
    JSON.stringify({ nodes: Array.from({ length: 200 }, (_, i) => ({ id: `n${i}`, name: 'é 😀' })) }),
  );

  it('gzips a body at the threshold and decodes it back to the same text', async () => {
    const encoded = await encodeBody(json, json.length);
    expect(encoded.contentEncoding).toBe(GZIP);
    expect(encoded.body.length).toBeLessThan(json.length);
    expect(decodeBody(encoded.body, encoded.contentEncoding, 'm')).toBe(json.toString('utf8'));
  });

  it('leaves a body under the threshold, or with compression off, as it is', async () => {
    for (const min of [json.length + 1, 0]) {
      const encoded = await encodeBody(json, min);
      expect(encoded).toEqual({ body: json });
      expect(decodeBody(encoded.body, undefined, 'm')).toBe(json.toString('utf8'));
    }
  });

  it('refuses, as not retryable, an unknown encoding, broken gzip and a body that inflates too far', () => {
    const bomb = gzipSync(Buffer.alloc(65 * 1024 * 1024));
    for (const [body, encoding] of [
      [json, 'br'],
      [json, GZIP],
      [bomb, GZIP],
    ] as const) {
      expect(() => decodeBody(body, encoding, 'm')).toThrow(NonRetryableError);
    }
  });
});
