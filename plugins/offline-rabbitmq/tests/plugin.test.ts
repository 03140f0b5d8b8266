import { describe, expect, it } from 'vitest';
import { OfflineRabbitMqPlugin } from '../src/plugin';

function plugin(custom: Record<string, unknown>, functions: Record<string, unknown> = {}) {
  const notices: string[] = [];
  const p = new OfflineRabbitMqPlugin(
    { service: { service: 'svc', provider: { stage: 'dev' }, functions, custom } },
    {},
    { log: { notice: (m) => notices.push(m), error: (m) => notices.push(m) } },
  );
  return { p, notices };
}

describe('the serverless-offline plugin', () => {
  it('hooks the start of serverless offline and drains before serverless-offline halts', () => {
    expect(Object.keys(plugin({}).p.hooks).sort()).toEqual([
      'before:offline:start:end',
      'offline:start:init',
    ]);
  });

  it('does nothing when custom.offlineRabbitmq.enabled is false (as a resolved variable, a string)', async () => {
    for (const enabled of [false, 'false', 'FALSE', '0', 'no', 'off']) {
      const { p, notices } = plugin({ offlineRabbitmq: { enabled } });
      await p.hooks['offline:start:init']?.();
      await p.hooks['before:offline:start:end']?.();
      expect(notices).toEqual([]);
    }
  });

  it('ends the process with status 1 when the bridge cannot start, not leaving the API up alone', async () => {
    const exits: number[] = [];
    const errors: string[] = [];
    const p = new OfflineRabbitMqPlugin(
      { service: { service: 'svc', provider: { stage: 'dev' }, functions: {}, custom: {} } },
      {},
      { log: { notice: () => undefined, error: (m) => errors.push(m) } },
      (code) => exits.push(code),
    );
    const saved = process.env.BRIDGE_QUEUE_WAIT_MS;
    const savedCode = process.exitCode;
    process.env.BRIDGE_QUEUE_WAIT_MS = 'soon';
    try {
      await expect(p.hooks['offline:start:init']?.()).rejects.toThrow(/BRIDGE_QUEUE_WAIT_MS/);
    } finally {
      if (saved === undefined) delete process.env.BRIDGE_QUEUE_WAIT_MS;
      else process.env.BRIDGE_QUEUE_WAIT_MS = saved;
      process.exitCode = savedCode;
    }
    expect(exits).toEqual([1]);
    expect(errors.join('\n')).toMatch(/the bridge could not start/);
  });

  it('says so when no function has a rabbitmq event, and stops cleanly', async () => {
    const { p, notices } = plugin({}, { api: { handler: 'h.handler', events: [{ httpApi: '*' }] } });
    await p.hooks['offline:start:init']?.();
    await p.hooks['before:offline:start:end']?.();
    expect(notices).toEqual(['[bridge] no enabled rabbitmq events in the service definition: nothing to do']);
  });
});
