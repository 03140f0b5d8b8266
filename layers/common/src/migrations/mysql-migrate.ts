import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';

/** The database named in a MySQL URL (`collect` in mysql://root@host:3306/collect). */
export function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_$]{1,64}$/.test(name))
    throw new Error(`MYSQL_URL must name a database ([A-Za-z0-9_$]), got "${name}"`);
  return name;
}

/** A workspace's migrations: the `NNN_*.sql` files of `dir`, recorded under `scope`. */
export interface MigrationSet {
  scope: string;
  dir: string;
}

/**
 * Creates the database if needed and applies every `NNN_*.sql` of the set not yet recorded in
 * `schema_migration` for its scope, in order. Each file is recorded only after all its
 * statements ran. Returns the names of the files it applied. Each workspace owns its set, so
 * two workspaces may both have a `001_init.sql`.
 */
export async function migrateMysql(url: string, set: MigrationSet): Promise<string[]> {
  const db = databaseName(url);
  const server = new URL(url);
  server.pathname = '/';
  const conn = await mysql.createConnection({
    uri: server.toString(),
    multipleStatements: true,
    charset: 'utf8mb4_unicode_ci',
  });
  try {
    await conn.query(
      `CREATE DATABASE IF NOT EXISTS \`${db}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
    );
    await conn.query(`USE \`${db}\``);
    await conn.query(
      `CREATE TABLE IF NOT EXISTS schema_migration (
         scope VARCHAR(64) NOT NULL DEFAULT 'collect',
         name VARCHAR(191) NOT NULL,
         applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
         PRIMARY KEY (scope, name)
       ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    );
    await upgradeLedger(conn);
    const [rows] = await conn.query('SELECT name FROM schema_migration WHERE scope = ?', [set.scope]);
    const applied = new Set((rows as { name: string }[]).map((r) => r.name));
    const files = readdirSync(set.dir)
      .filter((f) => /^\d+_.+\.sql$/.test(f))
      .sort();
    const done: string[] = [];
    for (const file of files) {
      if (applied.has(file)) continue;
      await conn.query(readFileSync(join(set.dir, file), 'utf8'));
      await conn.query('INSERT INTO schema_migration (scope, name) VALUES (?, ?)', [set.scope, file]);
      done.push(file);
    }
    return done;
  } finally {
    await conn.end();
  }
}

/**
 * A ledger written before migrations had scopes (one set, platform-collect's) gets its scope
 * column; its rows are collect's.
 */
async function upgradeLedger(conn: mysql.Connection): Promise<void> {
  const [cols] = await conn.query("SHOW COLUMNS FROM schema_migration LIKE 'scope'");
  if ((cols as unknown[]).length > 0) return;
  await conn.query(
    `ALTER TABLE schema_migration ADD COLUMN scope VARCHAR(64) NOT NULL DEFAULT 'collect' FIRST,
       DROP PRIMARY KEY, ADD PRIMARY KEY (scope, name)`,
  );
}

/** Drops the database of `url` (tests only). */
export async function dropMysqlDatabase(url: string): Promise<void> {
  const db = databaseName(url);
  const server = new URL(url);
  server.pathname = '/';
  const conn = await mysql.createConnection({ uri: server.toString() });
  try {
    await conn.query(`DROP DATABASE IF EXISTS \`${db}\``);
  } finally {
    await conn.end();
  }
}
