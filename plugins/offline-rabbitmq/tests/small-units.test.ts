import { describe, expect, it } from 'vitest';
import { amqpUrlForVhost, vhostOfUrl } from '../src/amqp-helpers';
import { ConcurrencyGate } from '../src/concurrency-gate';
import { redactUrl } from '../src/log';
import { readBridgeSettings } from '../src/settings';
import { delay } from '../src/timing';

describe('ConcurrencyGate', () => {
  it('never hands out more slots than its limit and notifies on release', () => {
    const gate = new ConcurrencyGate(2);
    let woken = 0;
    gate.onRelease(() => woken++);
    expect([gate.tryAcquire(), gate.tryAcquire(), gate.tryAcquire()]).toEqual([true, true, false]);
    gate.release();
    expect(woken).toBe(1);
    expect(gate.tryAcquire()).toBe(true);
    expect(() => new ConcurrencyGate(0)).toThrow(RangeError);
  });

  it('changes its limit at runtime: lower stops new invocations only, higher wakes the consumers', () => {
    const gate = new ConcurrencyGate(2);
    let woken = 0;
    gate.onRelease(() => woken++);
    expect([gate.tryAcquire(), gate.tryAcquire()]).toEqual([true, true]);
    gate.setLimit(1);
    expect(woken).toBe(0);
    gate.release();
    expect(gate.tryAcquire()).toBe(false);
    gate.setLimit(0);
    gate.release();
    expect(gate.tryAcquire()).toBe(false);
    gate.setLimit(3);
    expect(woken).toBe(3);
    expect([gate.tryAcquire(), gate.tryAcquire(), gate.tryAcquire(), gate.tryAcquire()]).toEqual([
      true,
      true,
      true,
      false,
    ]);
    expect(gate.configured).toBe(2);
    expect(() => gate.setLimit(-1)).toThrow(RangeError);
  });
});

describe('AMQP URLs', () => {
  it('reads and replaces the vhost', () => {
    expect(vhostOfUrl('amqp://guest:guest@127.0.0.1:5672')).toBe('/');
    expect(vhostOfUrl('amqp://h/%2F')).toBe('/');
    expect(vhostOfUrl('amqp://h/tenant')).toBe('tenant');
    expect(amqpUrlForVhost('amqp://u:p@h:5672/x?heartbeat=5', 'a/b')).toBe(
      'amqp://u:p@h:5672/a%2Fb?heartbeat=5',
    );
    expect(amqpUrlForVhost('amqp://h', undefined)).toBe('amqp://h');
    expect(redactUrl('amqp://guest:secret@h:5672')).toBe('amqp://guest:***@h:5672');
  });
});

describe('readBridgeSettings', () => {
  it('applies defaults and rejects malformed values', () => {
    expect(readBridgeSettings({})).toMatchObject({
      amqpUrl: 'amqp://guest:guest@127.0.0.1:5672',
      invokeBaseUrl: 'http://127.0.0.1:3002',
      stage: undefined,
      queueWaitMs: 30_000,
      shutdownTimeoutMs: 30_000,
      unavailableMaxDelayMs: 5_000,
      configSource: 'auto',
    });
    expect(readBridgeSettings({ BRIDGE_UNAVAILABLE_MAX_DELAY_MS: '2000' }).unavailableMaxDelayMs).toBe(2_000);
    expect(() => readBridgeSettings({ BRIDGE_UNAVAILABLE_MAX_DELAY_MS: '0' })).toThrow(
      /BRIDGE_UNAVAILABLE_MAX_DELAY_MS/,
    );
    expect(readBridgeSettings({ LAMBDA_PORT: '4002' }).invokeBaseUrl).toBe('http://127.0.0.1:4002');
    expect(() => readBridgeSettings({ BRIDGE_QUEUE_WAIT_MS: '30s' })).toThrow(/BRIDGE_QUEUE_WAIT_MS/);
    expect(() => readBridgeSettings({ BRIDGE_CONFIG_SOURCE: 'json' })).toThrow(/BRIDGE_CONFIG_SOURCE/);
  });
});

describe('delay', () => {
  it('ends early when its signal aborts', async () => {
    const stop = new AbortController();
    const waiting = delay(60_000, stop.signal);
    stop.abort();
    await expect(waiting).resolves.toBeUndefined();
    await expect(delay(60_000, stop.signal)).resolves.toBeUndefined();
    await expect(delay(1)).resolves.toBeUndefined();
  });
});
