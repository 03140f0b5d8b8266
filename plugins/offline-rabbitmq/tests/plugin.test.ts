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

  it('says so when no function has a rabbitmq event, and stops cleanly', async () => {
    const { p, notices } = plugin({}, { api: { handler: 'h.handler', events: [{ httpApi: '*' }] } });
    await p.hooks['offline:start:init']?.();
    await p.hooks['before:offline:start:end']?.();
    expect(notices).toEqual(['[bridge] no enabled rabbitmq events in the service definition: nothing to do']);
  });
});
