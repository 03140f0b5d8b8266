import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';

const MIGRATIONS_DIR = join(__dirname, 'mysql');

/** The database named in a MySQL URL (`collect` in mysql://root@host:3306/collect). */
export function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_$]{1,64}$/.test(name))
    throw new Error(`MYSQL_URL must name a database ([A-Za-z0-9_$]), got "${name}"`);
  return name;
}

/**
 * Creates the database if needed and applies every `mysql/NNN_*.sql` not yet recorded in
 * `schema_migration`, in order. Each file is recorded only after all its statements ran.
 * Returns the names of the files it applied.
 */
export async function migrateMysql(url: string): Promise<string[]> {
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
         name VARCHAR(191) NOT NULL PRIMARY KEY,
         applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
       ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    );
    const [rows] = await conn.query('SELECT name FROM schema_migration');
    const applied = new Set((rows as { name: string }[]).map((r) => r.name));
    const files = readdirSync(MIGRATIONS_DIR)
      .filter((f) => /^\d+_.+\.sql$/.test(f))
      .sort();
    const done: string[] = [];
    for (const file of files) {
      if (applied.has(file)) continue;
      await conn.query(readFileSync(join(MIGRATIONS_DIR, file), 'utf8'));
      await conn.query('INSERT INTO schema_migration (name) VALUES (?)', [file]);
      done.push(file);
    }
    return done;
  } finally {
    await conn.end();
  }
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
