import { describe, expect, it } from 'vitest';
import type { HttpRequest } from '../src/http/http-handler';
import { callSignature, INTERNAL_SIGNATURE_HEADER, isInternalCall } from '../src/http/internal-call';
import { refuseIllFormed } from '../src/http/well-formed';

const KEY = 'a-key-of-at-least-16';

function request(over: Partial<HttpRequest> & { signature?: string }): HttpRequest {
  const base = {
    route: 'POST /api/jobs/{id}/trigger',
    method: 'POST',
    path: '/api/jobs/j1/trigger',
    body: undefined,
    rawBody: '{"trigger":{"kind":"schedule"}}',
    query: {},
    params: {},
    tenantId: 'acme',
    ...over,
  };
  const signature =
    over.signature ??
    callSignature(KEY, 'acme', 'POST', '/api/jobs/j1/trigger', '{"trigger":{"kind":"schedule"}}');
  return { ...base, headers: { [INTERNAL_SIGNATURE_HEADER]: signature } };
}

describe('signed calls between services', () => {
  it('trusts a call signed with the key over its tenant, method, path and body, and nothing else', () => {
    expect(isInternalCall(KEY, request({}))).toBe(true);
    expect(isInternalCall('another-key-of-16+', request({}))).toBe(false);
    expect(isInternalCall(KEY, request({ tenantId: 'other' }))).toBe(false);
    expect(isInternalCall(KEY, request({ path: '/api/jobs/j2/trigger' }))).toBe(false);
    expect(isInternalCall(KEY, request({ rawBody: '{"trigger":{"kind":"manual"}}' }))).toBe(false);
    expect(isInternalCall(KEY, request({ signature: 'zz' }))).toBe(false);
    expect(isInternalCall(KEY, { ...request({}), headers: {} })).toBe(false);
  });
});

describe('bodies that are not valid Unicode', () => {
  it('are refused naming every string and key with an unpaired surrogate', () => {
    const err = (() => {
      try {
        refuseIllFormed({
          name: 'ok \ud800',
          list: ['fine', 'x\udc00'],
          'k\ud801': 1,
          nested: { deep: '😀' },
        });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toMatchObject({ status: 400 });
    expect((err as { details: { path: string }[] }).details.map((p) => p.path)).toEqual([
      'name',
      'list[1]',
      'k\ud801',
    ]);
    expect(() => refuseIllFormed({ name: '名前 🛒', n: 1, none: null })).not.toThrow();
  });
});
