import { describe, expect, it } from 'vitest';
import { isUnavailable, retryWhileUnavailable } from '../src/retry';

const refused = () =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:3306'), { code: 'ECONNREFUSED' });

describe('isUnavailable', () => {
  it('recognises connection failures of MySQL, MongoDB and Redis, also as a cause', () => {
    expect(isUnavailable(refused())).toBe(true);
    expect(isUnavailable(Object.assign(new Error('lost'), { code: 'PROTOCOL_CONNECTION_LOST' }))).toBe(true);
    expect(isUnavailable(Object.assign(new Error('x'), { name: 'MongoServerSelectionError' }))).toBe(true);
    expect(isUnavailable(new Error('Connection is closed.'))).toBe(true);
    // amqplib's connect timeout (a broker that accepts TCP and never completes the handshake).
    expect(isUnavailable(new Error('connect ETIMEDOUT'))).toBe(true);
    expect(isUnavailable(new Error('Reached the max retries per request limit (which is 3).'))).toBe(true);
    expect(isUnavailable(new Error('wrapped', { cause: refused() }))).toBe(true);
  });

  it('does not take a bad statement or bad data for an outage', () => {
    expect(isUnavailable(Object.assign(new Error('dup'), { code: 'ER_DUP_ENTRY' }))).toBe(false);
    expect(isUnavailable(new TypeError('x is undefined'))).toBe(false);
    expect(isUnavailable(undefined)).toBe(false);
  });
});

describe('retryWhileUnavailable', () => {
  it('runs again while a dependency is unavailable, then returns the result', async () => {
    let calls = 0;
    const result = await retryWhileUnavailable(async () => {
      calls += 1;
      if (calls < 3) throw refused();
      return 'done';
    }, 5000);
    expect(result).toBe('done');
    expect(calls).toBe(3);
  });

  it('throws any other failure at once', async () => {
    let calls = 0;
    await expect(
      retryWhileUnavailable(async () => {
        calls += 1;
        throw new Error('bad data');
      }, 5000),
    ).rejects.toThrow('bad data');
    expect(calls).toBe(1);
  });

  it('gives up when the budget is spent', async () => {
    let calls = 0;
    await expect(
      retryWhileUnavailable(async () => {
        calls += 1;
        throw refused();
      }, 300),
    ).rejects.toThrow('ECONNREFUSED');
    expect(calls).toBeLessThanOrEqual(2);
  });
});
