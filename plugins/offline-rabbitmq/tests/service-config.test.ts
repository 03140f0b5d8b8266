import { describe, expect, it } from 'vitest';
import { concurrencyEnvName, extractBridgeFunctions } from '../src/service-config';

/** Trimmed output of `serverless print --format json` for this project. */
const printed = {
  service: 'collect',
  provider: { name: 'aws', stage: 'dev', region: 'eu-west-1', timeout: 29 },
  functions: {
    getTask: {
      handler: 'functions/collect/src/handlers/task.http.handler',
      events: [{ httpApi: { method: 'GET', path: '/api/tasks/{id}' } }],
      name: 'collect-dev-getTask',
    },
    importChunk: {
      handler: 'functions/collect/src/handlers/import-chunk.consumer.handler',
      timeout: 120,
      reservedConcurrency: 2,
      events: [
        {
          rabbitmq: {
            arn: 'arn:aws:mq:eu-west-1:000000000000:broker:collect:b-00000000-0000-0000-0000-000000000000',
            basicAuthArn: 'arn:aws:secretsmanager:eu-west-1:000000000000:secret:collect-mq',
            queue: 'collect.import-chunk',
            batchSize: 1,
          },
        },
      ],
      name: 'collect-dev-importChunk',
    },
  },
};

describe('extractBridgeFunctions', () => {
  it('extracts the rabbitmq functions of the resolved config', () => {
    expect(extractBridgeFunctions(printed)).toEqual([
      {
        functionKey: 'importChunk',
        functionName: 'collect-dev-importChunk',
        concurrency: 2,
        invokeTimeoutMs: 125_000,
        sources: [
          {
            arn: 'arn:aws:mq:eu-west-1:000000000000:broker:collect:b-00000000-0000-0000-0000-000000000000',
            queue: 'collect.import-chunk',
            virtualHost: undefined,
            batchSize: 1,
          },
        ],
      },
    ]);
  });

  it('applies BRIDGE_CONCURRENCY_<FN> and BRIDGE_INVOKE_TIMEOUT_MS', () => {
    const env = { BRIDGE_CONCURRENCY_IMPORTCHUNK: '5', BRIDGE_INVOKE_TIMEOUT_MS: '1000' };
    const [fn] = extractBridgeFunctions(printed, { env });
    expect(fn).toMatchObject({ concurrency: 5, invokeTimeoutMs: 1000 });
    expect(concurrencyEnvName('import-chunk_v2')).toBe('BRIDGE_CONCURRENCY_IMPORT_CHUNK_V2');
  });

  it('handles the raw yaml form: function list, string numbers, no names, defaults', () => {
    const raw = {
      service: { name: 'svc' },
      provider: { timeout: '10' },
      functions: [
        {
          a: {
            reservedConcurrency: '3',
            events: [{ rabbitmq: { arn: 'arn:x', queue: 'qa', virtualHost: 'v1' } }],
          },
        },
        {
          b: { events: [{ rabbitmq: { arn: 'arn:x', queue: 'qb', enabled: false } }] },
          c: { reservedConcurrency: 0, events: [{ rabbitmq: { arn: 'arn:x', queue: 'qc' } }] },
          d: {
            events: [
              { rabbitmq: { arn: 'arn:x', queue: 'qd1' } },
              { rabbitmq: { arn: 'arn:y', queue: 'qd2' } },
            ],
          },
        },
      ],
    };
    const fns = extractBridgeFunctions(raw, { stage: 'test' });
    expect(fns.map((f) => [f.functionName, f.concurrency, f.invokeTimeoutMs])).toEqual([
      ['svc-test-a', 3, 15_000],
      ['svc-test-d', 1, 15_000],
    ]);
    expect(fns[0]?.sources[0]).toMatchObject({ virtualHost: 'v1', batchSize: 100 });
    expect(fns[1]?.sources.map((s) => s.queue)).toEqual(['qd1', 'qd2']);
  });

  it('defaults the invoke timeout to 900 s when no timeout is declared', () => {
    const config = { service: 's', functions: { f: { events: [{ rabbitmq: { arn: 'a', queue: 'q' } }] } } };
    expect(extractBridgeFunctions(config)[0]?.invokeTimeoutMs).toBe(900_000);
  });

  it('rejects malformed settings with the variable named', () => {
    expect(() => extractBridgeFunctions(printed, { env: { BRIDGE_CONCURRENCY_IMPORTCHUNK: 'two' } })).toThrow(
      /BRIDGE_CONCURRENCY_IMPORTCHUNK/,
    );
    const noQueue = { service: 's', functions: { f: { events: [{ rabbitmq: { arn: 'a' } }] } } };
    expect(() => extractBridgeFunctions(noQueue)).toThrow(/functions\.f\.events\[0\]\.rabbitmq\.queue/);
  });
});
