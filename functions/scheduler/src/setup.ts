// Setup-time code: run by scripts/setup.ts and the tests, never bundled into a function.
import { join } from 'node:path';
import { type MigrationSet, migrateMysql } from '@collect/common/setup';

/** platform-scheduler's MySQL migrations (`migrations/mysql/NNN_*.sql`), its own. */
export const schedulerMigrations: MigrationSet = {
  scope: 'scheduler',
  dir: join(__dirname, '../migrations/mysql'),
};

export const migrateScheduler = (mysqlUrl: string): Promise<string[]> =>
  migrateMysql(mysqlUrl, schedulerMigrations);
