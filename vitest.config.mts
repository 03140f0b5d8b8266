import { defineConfig } from 'vitest/config';

/**
 * Three projects: `unit` (pure logic, no services), `integration` (real MariaDB, MongoDB, Redis,
 * RabbitMQ) and `e2e` (serverless-offline + the RabbitMQ bridge, driven over HTTP).
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
          name: 'package',
          include: ['tests/package/**/*.test.ts'],
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
