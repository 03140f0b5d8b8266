// Setup-time code: run by scripts/setup.ts and the tests, never bundled into a function.
import { join } from 'node:path';
import { type MigrationSet, migrateMysql } from '@collect/common/setup';

/** platform-register's MySQL migrations (`migrations/mysql/NNN_*.sql`), its own. */
export const registerMigrations: MigrationSet = {
  scope: 'register',
  dir: join(__dirname, '../migrations/mysql'),
};

/** Applies platform-register's MySQL migrations not yet applied; returns their names. */
export const migrateRegister = (mysqlUrl: string): Promise<string[]> =>
  migrateMysql(mysqlUrl, registerMigrations);
