/**
 * Architecture rules (DESIGN §2, STYLE.md): the core defines ports and imports no driver;
 * layers never reach into functions; functions do not import each other; the RabbitMQ bridge
 * (plugins/offline-rabbitmq) stands alone.
 */
module.exports = {
  forbidden: [
    {
      name: 'core-has-no-drivers',
      comment: '@collect/core is ports only: no database, queue or HTTP driver',
      severity: 'error',
      from: { path: '^layers/collect-core/' },
      to: { path: 'node_modules/(mysql2|mongodb|ioredis|amqplib|@middy|undici|axios)/' },
    },
    {
      name: 'core-is-independent',
      comment: '@collect/core depends on nothing of the platform',
      severity: 'error',
      from: { path: '^layers/collect-core/' },
      to: { path: '^(layers/common|functions)/' },
    },
    {
      name: 'layers-do-not-import-functions',
      severity: 'error',
      from: { path: '^layers/' },
      to: { path: '^functions/' },
    },
    {
      name: 'functions-are-separate',
      comment: 'a function folder talks to another only through the queue or HTTP',
      severity: 'error',
      from: { path: '^functions/([^/]+)/' },
      to: { path: '^functions/([^/]+)/', pathNot: '^functions/$1/' },
    },
    {
      name: 'bridge-is-standalone',
      comment:
        'the RabbitMQ bridge (a serverless-offline plugin) knows the platform only by the event it builds',
      severity: 'error',
      from: { path: '^plugins/' },
      to: { path: '^(layers|functions)/', pathNot: '^layers/common/src/queue/rmq-event\\.ts$' },
    },
    {
      name: 'platform-does-not-need-the-bridge',
      comment: 'the functions run on AWS without it',
      severity: 'error',
      from: { path: '^(layers|functions)/' },
      to: { path: '^plugins/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    combinedDependencies: true,
    exclude: { path: '(^|/)(tests|node_modules)/' },
  },
};
