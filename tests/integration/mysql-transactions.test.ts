import { inTransaction } from '@collect/common';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../support/test-env';

let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv();
  await env.db.query('CREATE TABLE deadlock_probe (id INT PRIMARY KEY, n INT NOT NULL) ENGINE=InnoDB');
  await env.db.query('INSERT INTO deadlock_probe VALUES (1, 0), (2, 0)');
});
afterAll(async () => {
  await env?.close();
});

describe('inTransaction', () => {
  it('runs a deadlock victim again, so both transactions take effect', async () => {
    // Two transactions lock the same rows in opposite order; each waits for the other to hold
    // its first row before asking for the second, so the server must pick a victim.
    let release!: () => void;
    const bothHoldFirst = new Promise<void>((r) => {
      let held = 0;
      release = () => {
        held += 1;
        if (held === 2) r();
      };
    });
    let runs = 0;
    const crosswise = (first: number, second: number) =>
      inTransaction(env.db, async (conn) => {
        runs += 1;
        await conn.query('UPDATE deadlock_probe SET n = n + 1 WHERE id = ?', [first]);
        if (runs <= 2) {
          release();
          await bothHoldFirst;
        }
        await conn.query('UPDATE deadlock_probe SET n = n + 1 WHERE id = ?', [second]);
      });
    await Promise.all([crosswise(1, 2), crosswise(2, 1)]);
    expect(runs).toBe(3);
    const [rows] = await env.db.query<RowDataPacket[]>('SELECT id, n FROM deadlock_probe ORDER BY id');
    expect(rows.map((r) => r.n)).toEqual([2, 2]);
  });

  it('does not run again after any other failure', async () => {
    let runs = 0;
    await expect(
      inTransaction(env.db, async (conn) => {
        runs += 1;
        await conn.query('INSERT INTO deadlock_probe VALUES (1, 0)');
      }),
    ).rejects.toMatchObject({ code: 'ER_DUP_ENTRY' });
    expect(runs).toBe(1);
  });
});
