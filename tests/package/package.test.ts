import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectorRegistry } from '../../functions/collect/src/collectors/registry';
import { collectConfigSchema } from '../../functions/collect/src/config';

const ROOT = resolve(__dirname, '../..');
let dir: string;
let resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;

const ofType = (type: string) => Object.values(resources).filter((r) => r.Type === type);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'collect-package-'));
  execFileSync(
    resolve(ROOT, 'node_modules/.bin/serverless'),
    ['package', '--stage', 'prod', '--region', 'eu-west-1', '--package', dir],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own bundle folder: packaging cleans it up, and a running serverless-offline
      // (npm start, a test's stack) must not lose its bundles under it.
      env: { ...process.env, AMQP_PREFIX: 'collect', ESBUILD_WORK_FOLDER: '.esbuild-package' },
    },
  );
  resources = JSON.parse(
    readFileSync(join(dir, 'cloudformation-template-update-stack.json'), 'utf8'),
  ).Resources;
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('serverless package for AWS', () => {
  it('bundles each function on its own for nodejs22.x', () => {
    const fns = ofType('AWS::Lambda::Function');
    expect(fns.map((f) => f.Properties.FunctionName).sort()).toEqual([
      'collect-prod-addImportPart',
      'collect-prod-cancelImport',
      'collect-prod-commitImport',
      'collect-prod-flowApi',
      'collect-prod-getTestcase',
      'collect-prod-getTestcaseHistory',
      'collect-prod-getTestcaseTree',
      'collect-prod-importChunk',
      'collect-prod-importChunkDead',
      'collect-prod-importTestcases',
      'collect-prod-openImport',
      'collect-prod-planDead',
      'collect-prod-planTask',
      'collect-prod-registerApi',
      'collect-prod-registerCatalog',
      'collect-prod-registerTaskFinished',
      'collect-prod-runShardDead',
      'collect-prod-runShardHttpTree1',
      'collect-prod-runShardTestrail1',
      'collect-prod-runShardTestrail2',
      'collect-prod-schedulerJobDisabled',
      'collect-prod-schedulerTick',
      'collect-prod-schedulesApi',
      'collect-prod-sweepStalledShards',
      'collect-prod-tasksApi',
    ]);
    for (const f of fns) expect(f.Properties.Runtime).toBe('nodejs22.x');
    expect(readdirSync(dir).filter((f) => f.endsWith('.zip'))).toHaveLength(25);
  });

  it('maps the work queues and their dead-letter queues of the Amazon MQ broker to their consumers', () => {
    const mappings = ofType('AWS::Lambda::EventSourceMapping');
    // Every collector version this service runs has its own queue, consumed by its own function.
    const collectors = collectorRegistry(collectConfigSchema.parse({}));
    expect(collectors.routes().sort()).toEqual(['http-tree@1', 'testrail@1', 'testrail@2']);
    // A partitioned version has one mapping per partition (and per partition's dead queue).
    const routes = collectors.queues();
    expect(routes.sort()).toEqual(['http-tree@1', 'testrail@1.p0', 'testrail@1.p1', 'testrail@2']);
    expect(mappings.map((m) => m.Properties.Queues).sort()).toEqual(
      [
        ['collect.catalog'],
        ['collect.import-chunk'],
        ['collect.import-chunk.dead'],
        ['collect.job-disabled'],
        ['collect.plan'],
        ['collect.plan.dead'],
        ['collect.task-finished'],
        ...routes.flatMap((r) => [[`collect.${r}`], [`collect.${r}.dead`]]),
      ].sort(),
    );
    for (const mapping of mappings) {
      expect(mapping.Properties).toMatchObject({
        BatchSize: 1,
        SourceAccessConfigurations: [{ Type: 'BASIC_AUTH' }],
      });
      expect(String(mapping.Properties.EventSourceArn)).toMatch(/^arn:aws:mq:/);
    }
    // Both partitions of TestRail 1 invoke its function.
    for (const q of ['collect.testrail@1.p0', 'collect.testrail@1.p1']) {
      const m = mappings.find((x) => JSON.stringify(x.Properties.Queues) === JSON.stringify([q]));
      expect(JSON.stringify(m?.Properties.FunctionName), q).toContain('RunShardTestrail1');
    }
    // A flow limit function:{name} may name exactly the functions that consume a queue.
    // A mapping invokes an alias (Ref), the alias names its function (Ref), which has its name.
    const ref = (v: unknown) => (v as { Ref?: string }).Ref ?? '';
    const nameOf = (id: string) =>
      String(resources[id]?.Properties.FunctionName).replace(/^collect-prod-/, '');
    const consumers = new Set(
      mappings.map((m) => nameOf(ref(resources[ref(m.Properties.FunctionName)]?.Properties.FunctionName))),
    );
    const fnEnv = ofType('AWS::Lambda::Function')[0]?.Properties.Environment as {
      Variables: Record<string, string>;
    };
    const listed = (fnEnv.Variables.CONSUMER_FUNCTIONS ?? '').split(',');
    expect([...listed].sort()).toEqual([...consumers].sort());
    expect(collectConfigSchema.parse({}).CONSUMER_FUNCTIONS).toEqual(listed);
    const worker = ofType('AWS::Lambda::Function').find(
      (f) => f.Properties.FunctionName === 'collect-prod-importChunk',
    );
    expect(worker?.Properties.ReservedConcurrentExecutions).toBe(2);
  });

  it('fires the scheduler tick and the stalled-shard sweeper every minute', () => {
    const rules = ofType('AWS::Events::Rule');
    expect(rules.map((r) => r.Properties.ScheduleExpression)).toEqual(['rate(1 minute)', 'rate(1 minute)']);
    expect(rules.every((r) => r.Properties.State === 'ENABLED')).toBe(true);
    const targets = JSON.stringify(rules.map((r) => r.Properties.Targets));
    expect(targets).toContain('SchedulerTick');
    expect(targets).toContain('SweepStalledShards');
  });

  it('routes every HTTP endpoint', () => {
    const routes = ofType('AWS::ApiGatewayV2::Route').map((r) => r.Properties.RouteKey);
    expect(routes.sort()).toEqual(
      [
        'POST /api/tasks',
        'GET /api/tasks',
        'GET /api/tasks/{id}',
        'POST /api/tasks/{id}/{action}',
        'POST /api/tasks/{id}/shards/{shardId}/{action}',
        'GET /api/tasks/{id}/logs',
        'GET /api/task/{taskId}/status',
        'POST /api/task/{taskId}/{action}',
        'GET /api/testcase/tree',
        'GET /api/testcase/versions',
        'GET /api/testcase/diff',
        'GET /api/testcase/{id}',
        'POST /api/testcase/import',
        'POST /api/testcase/imports',
        'POST /api/testcase/imports/{id}/parts',
        'POST /api/testcase/imports/{id}/commit',
        'DELETE /api/testcase/imports/{id}',
        'GET /api/collectors',
        'GET /api/flow',
        'GET /api/flow/{key}',
        'PUT /api/flow/{key}',
        'DELETE /api/flow/{key}',
        'POST /api/jobs',
        'GET /api/jobs',
        'GET /api/jobs/{id}',
        'PUT /api/jobs/{id}',
        'DELETE /api/jobs/{id}',
        'POST /api/jobs/{id}/trigger',
        'PUT /api/jobs/{id}/release',
        'DELETE /api/jobs/{id}/release',
        'POST /api/collectors/{type}/versions/{version}/promote',
        'POST /api/schedules',
        'GET /api/schedules',
        'GET /api/schedules/{id}',
        'POST /api/schedules/{id}/{action}',
        'DELETE /api/schedules/{id}',
      ].sort(),
    );
  });

  it('publishes every function behind the alias `live` with a CodeDeploy canary, and points every trigger at the alias', () => {
    const fns = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
    const aliases = ofType('AWS::Lambda::Alias');
    const groups = ofType('AWS::CodeDeploy::DeploymentGroup');
    expect(aliases).toHaveLength(fns.length);
    expect(groups).toHaveLength(fns.length);
    const aliasIds = new Set(
      Object.entries(resources)
        .filter(([, r]) => r.Type === 'AWS::Lambda::Alias')
        .map(([id]) => id),
    );
    for (const [id] of fns) {
      const alias = aliases.find(
        (a) => JSON.stringify(a.Properties.FunctionName) === JSON.stringify({ Ref: id }),
      );
      expect(alias?.Properties.Name, `${id} has the alias live`).toBe('live');
    }
    for (const g of groups) {
      expect(g.Properties).toMatchObject({
        DeploymentStyle: { DeploymentType: 'BLUE_GREEN', DeploymentOption: 'WITH_TRAFFIC_CONTROL' },
        AutoRollbackConfiguration: { Enabled: true },
      });
      expect(JSON.stringify(g.Properties.DeploymentConfigName)).toContain('Canary10Percent5Minutes');
    }
    expect(ofType('AWS::CodeDeploy::Application')).toHaveLength(1);
    const isAlias = (ref: unknown) => aliasIds.has((ref as { Ref?: string })?.Ref ?? '');
    // RabbitMQ: every event source mapping invokes an alias.
    for (const m of ofType('AWS::Lambda::EventSourceMapping'))
      expect(isAlias(m.Properties.FunctionName)).toBe(true);
    // HTTP: every integration's URI names an alias.
    const integrations = ofType('AWS::ApiGatewayV2::Integration');
    expect(integrations.length).toBeGreaterThan(0);
    for (const i of integrations) {
      const parts = (i.Properties.IntegrationUri as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
      expect(parts.some(isAlias)).toBe(true);
    }
    // Schedule: the tick's rule targets the alias, and the permissions are the alias's.
    for (const r of ofType('AWS::Events::Rule'))
      for (const t of r.Properties.Targets as { Arn: unknown }[]) expect(isAlias(t.Arn)).toBe(true);
    for (const p of ofType('AWS::Lambda::Permission')) expect(isAlias(p.Properties.FunctionName)).toBe(true);
  });
});
