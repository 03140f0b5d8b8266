import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { extractBridgeFunctions } from '../src/service-config';
import { resolveServerlessYaml } from '../src/yaml-resolver';

const dir = mkdtempSync(join(tmpdir(), 'bridge-yaml-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

mkdirSync(join(dir, 'functions', 'collect'), { recursive: true });
writeFileSync(
  join(dir, 'serverless.yml'),
  `service: collect
provider:
  name: aws
  stage: \${opt:stage, 'dev'}
  timeout: 29
  environment:
    AMQP_URL: \${env:AMQP_URL, 'amqp://localhost'}
    MIXED: prefix-\${self:provider.stage}-\${env:NOPE, 7}
custom:
  mq:
    brokerArn: \${env:MQ_BROKER_ARN, 'arn:aws:mq:eu-west-1:0:broker:collect:b-0'}
    secretArn: \${env:MQ_SECRET_ARN, 'arn:secret'}
functions:
  - \${file(./functions/collect/functions.yml)}
resources:
  Outputs:
    Region:
      Value: !Sub "\${AWS::Region}"
`,
);
writeFileSync(
  join(dir, 'functions', 'collect', 'functions.yml'),
  `getTask:
  handler: h.handler
  events:
    - httpApi: { method: GET, path: "/api/tasks/{id}" }
importChunk:
  handler: c.handler
  timeout: 120
  reservedConcurrency: \${env:IMPORT_CHUNK_CONCURRENCY, '2'}
  events:
    - rabbitmq:
        arn: \${self:custom.mq.brokerArn}
        basicAuthArn: \${self:custom.mq.secretArn}
        queue: collect.import-chunk
        batchSize: 1
`,
);

describe('resolveServerlessYaml', () => {
  it('resolves file includes, env defaults, opt and self references', () => {
    const config = resolveServerlessYaml(join(dir, 'serverless.yml'), {
      env: { MQ_BROKER_ARN: 'arn:from-env' },
      opt: { stage: undefined },
    });
    expect(config.provider).toMatchObject({
      stage: 'dev',
      environment: { AMQP_URL: 'amqp://localhost', MIXED: 'prefix-dev-7' },
    });
    const [fn] = extractBridgeFunctions(config);
    expect(fn).toMatchObject({
      functionName: 'collect-dev-importChunk',
      concurrency: 2,
      invokeTimeoutMs: 125_000,
      sources: [{ arn: 'arn:from-env', queue: 'collect.import-chunk', batchSize: 1 }],
    });
  });

  it('honours --stage and env overrides', () => {
    const config = resolveServerlessYaml(join(dir, 'serverless.yml'), {
      env: { IMPORT_CHUNK_CONCURRENCY: '4' },
      opt: { stage: 'prod' },
    });
    expect(extractBridgeFunctions(config)[0]).toMatchObject({
      functionName: 'collect-prod-importChunk',
      concurrency: 4,
    });
  });

  it('reads strToBool as the framework does (a schedule turned off by an environment variable)', () => {
    const file = join(dir, 'bools.yml');
    writeFileSync(
      file,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: serverless variable syntax, not a JS template
      "service: x\nprovider:\n  on: ${strToBool(${env:TICK, 'true'})}\n  off: ${strToBool(${env:OFF})}\n",
    );
    expect(resolveServerlessYaml(file, { env: { OFF: '0' }, opt: {} }).provider).toEqual({
      on: true,
      off: false,
    });
    expect(() => resolveServerlessYaml(file, { env: { OFF: 'maybe' }, opt: {} })).toThrow(/strToBool/);
  });

  it('fails on a known source with no value and no fallback', () => {
    const file = join(dir, 'broken.yml');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: serverless variable syntax, not a JS template
    writeFileSync(file, 'service: x\nprovider:\n  stage: ${env:SURELY_UNSET_BRIDGE_VAR}\n');
    expect(() => resolveServerlessYaml(file, { env: {}, opt: {} })).toThrow(/SURELY_UNSET_BRIDGE_VAR/);
  });
});
