import { defineConfig } from 'vitest/config';

/**
 * Projects: `unit` (pure logic, no services), `integration` (real MariaDB, MongoDB, Redis,
 * RabbitMQ), `e2e` (serverless-offline + the RabbitMQ bridge, driven over HTTP), `chaos` (the
 * reduced chaos run) and `package` (`serverless package` for AWS). scripts/test.sh runs them in
 * turn.
 */
export default defineConfig({
  test: {
    env: { LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent' },
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'layers/*/tests/**/*.test.ts',
            'functions/*/tests/unit/**/*.test.ts',
            'plugins/*/tests/**/*.test.ts',
          ],
          exclude: ['**/*.integration.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts', 'plugins/*/tests/**/*.integration.test.ts'],
          globalSetup: ['tests/support/services.global.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts'],
          globalSetup: ['tests/support/stack.global.ts'],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          // Restarts the local RabbitMQ, MariaDB and Redis: runs alone, after the others.
          name: 'chaos',
          include: ['tests/chaos/**/*.test.ts'],
          globalSetup: ['tests/support/services.global.ts'],
          testTimeout: 1_200_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'package',
          include: ['tests/package/**/*.test.ts'],
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
