#!/usr/bin/env node
// Smoke test + rough benchmark for the local MongoDB server, through the real `mongodb` driver.
// Usage: node scripts/mongo/verify.mjs [URL]   (default: $MONGO_URL or mongodb://127.0.0.1:27018)
// Uses (and finally drops) the database "collect_mongo_verify". Exit 0 = every check passed.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
function loadDriver() {
  for (const from of [projectRoot, process.cwd()]) {
    try {
      return createRequire(path.join(from, 'noop.js'))('mongodb');
    } catch {}
  }
  throw new Error('the mongodb driver is not installed (npm i mongodb)');
}
const { MongoClient } = loadDriver();

const url =
  process.argv[2] || process.env.MONGO_URL || `mongodb://127.0.0.1:${process.env.MONGO_PORT || 27018}`;
const DB = 'collect_mongo_verify';
const BATCH = 500;
const TOTAL = 5000;
const PAD = 'x'.repeat(900); // with the other fields a document is ~1 KB

let passed = 0;
let failed = 0;
async function check(name, fn) {
  const t0 = performance.now();
  try {
    const note = await fn();
    passed += 1;
    console.log(`ok   ${name} (${Math.round(performance.now() - t0)} ms)${note ? ` ${note}` : ''}`);
  } catch (error) {
    failed += 1;
    console.log(`FAIL ${name}: ${error.message}`);
  }
}

function upsertOps(from, count, tag) {
  const ops = [];
  for (let i = from; i < from + count; i += 1) {
    ops.push({
      updateOne: {
        filter: { tenant: `t${i % 7}`, key: `k${i}` },
        update: {
          $set: { tag, n: i, payload: PAD, updatedAt: new Date() },
          $setOnInsert: { createdAt: new Date(), first: tag },
        },
        upsert: true,
      },
    });
  }
  return ops;
}

async function upsertAll(coll, tag, from = 0, total = TOTAL) {
  let upserted = 0;
  let modified = 0;
  for (let off = from; off < from + total; off += BATCH) {
    const r = await coll.bulkWrite(upsertOps(off, BATCH, tag), { ordered: false });
    upserted += r.upsertedCount;
    modified += r.modifiedCount;
  }
  return { upserted, modified };
}

const client = new MongoClient(url, { serverSelectionTimeoutMS: 5000 });
await client.connect();
const db = client.db(DB);
await db.dropDatabase();
const items = db.collection('items');

await check('ping', async () => assert.equal((await db.command({ ping: 1 })).ok, 1));

await check('createIndexes: unique compound, TTL, text', async () => {
  await items.createIndex({ tenant: 1, key: 1 }, { unique: true, name: 'tenant_key_unique' });
  await items.createIndex({ tenant: 1, n: -1 }, { name: 'tenant_n' });
  await items.createIndex({ createdAt: 1 }, { expireAfterSeconds: 3600, name: 'ttl' });
  await items.createIndex({ tag: 'text' }, { name: 'tag_text' });
  const names = (await items.indexes()).map((i) => i.name).sort();
  assert.deepEqual(names, ['_id_', 'tag_text', 'tenant_key_unique', 'tenant_n', 'ttl']);
});

await check(`bulkWrite ${TOTAL} upserts (unordered, ${BATCH}/batch, ~1 KB docs): inserts`, async () => {
  const t0 = performance.now();
  const r = await upsertAll(items, 'first');
  const s = (performance.now() - t0) / 1000;
  assert.equal(r.upserted, TOTAL);
  return `→ ${Math.round(TOTAL / s)} upserts/s`;
});

await check(`bulkWrite ${TOTAL} upserts again: all matched, updates`, async () => {
  const t0 = performance.now();
  const r = await upsertAll(items, 'second');
  const s = (performance.now() - t0) / 1000;
  assert.equal(r.upserted, 0);
  assert.equal(r.modified, TOTAL);
  const doc = await items.findOne({ key: 'k42' });
  assert.equal(doc.first, 'first'); // $setOnInsert did not overwrite
  assert.equal(doc.tag, 'second');
  return `→ ${Math.round(TOTAL / s)} upserts/s`;
});

await check('unique index rejects a duplicate (E11000)', async () => {
  await assert.rejects(items.insertOne({ tenant: 't0', key: 'k0' }), (e) => e.code === 11000);
});

await check('find with sort/limit/projection, countDocuments', async () => {
  const docs = await items
    .find({ tenant: 't3' }, { projection: { payload: 0 } })
    .sort({ n: -1 })
    .limit(5)
    .toArray();
  assert.equal(docs.length, 5);
  assert.ok(docs[0].n > docs[4].n);
  assert.equal(docs[0].payload, undefined);
  assert.equal(await items.countDocuments({ tenant: 't3' }), Math.ceil((TOTAL - 3) / 7));
  assert.equal(await items.countDocuments(), TOTAL);
});

await check('aggregate $match/$group/$sort', async () => {
  const rows = await items
    .aggregate([
      { $match: { n: { $gte: 0 } } },
      { $group: { _id: '$tenant', c: { $sum: 1 }, max: { $max: '$n' } } },
      { $sort: { _id: 1 } },
    ])
    .toArray();
  assert.equal(rows.length, 7);
  assert.equal(
    rows.reduce((a, r) => a + r.c, 0),
    TOTAL,
  );
});

await check('$text search', async () => {
  assert.equal(await items.countDocuments({ $text: { $search: 'second' } }), TOTAL);
});

await check('update operators $inc/$push/$addToSet/$pull/$unset', async () => {
  await items.updateOne(
    { key: 'k1' },
    { $inc: { n: 10 }, $push: { log: 'a' }, $addToSet: { tags: 'x' }, $unset: { first: '' } },
  );
  await items.updateOne({ key: 'k1' }, { $push: { log: { $each: ['b', 'c'] } }, $addToSet: { tags: 'x' } });
  await items.updateOne({ key: 'k1' }, { $pull: { log: 'a' } });
  const d = await items.findOne({ key: 'k1' });
  assert.equal(d.n, 11);
  assert.deepEqual(d.log, ['b', 'c']);
  assert.deepEqual(d.tags, ['x']);
  assert.equal(d.first, undefined);
});

await check('a 12 MB document (message spans many TCP chunks)', async () => {
  const big = db.collection('big');
  const blob = 'y'.repeat(12 * 1024 * 1024);
  await big.insertOne({ _id: 'big', blob });
  const d = await big.findOne({ _id: 'big' });
  assert.equal(d.blob.length, blob.length);
});

await check('deleteMany', async () => {
  const r = await items.deleteMany({ tenant: 't6' });
  assert.ok(r.deletedCount > 0);
  assert.equal(await items.countDocuments({ tenant: 't6' }), 0);
});

await check('4 concurrent clients, each 5 x 500 upserts', async () => {
  await db.collection('concurrent').createIndex({ tenant: 1, key: 1 }, { unique: true });
  const clients = await Promise.all([0, 1, 2, 3].map(() => new MongoClient(url).connect()));
  const t0 = performance.now();
  await Promise.all(
    clients.map((c, i) => upsertAll(c.db(DB).collection('concurrent'), `c${i}`, i * 2500, 2500)),
  );
  const s = (performance.now() - t0) / 1000;
  await Promise.all(clients.map((c) => c.close()));
  assert.equal(await db.collection('concurrent').countDocuments(), 10000);
  return `→ ${Math.round(10000 / s)} upserts/s total`;
});

await check('drop collection + listCollections', async () => {
  assert.equal(await db.collection('big').drop(), true);
  const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
  assert.deepEqual(names, ['concurrent', 'items']);
});

await check('dropDatabase', async () => {
  await db.dropDatabase();
  const dbs = (await client.db('admin').admin().listDatabases()).databases.map((d) => d.name);
  assert.ok(!dbs.includes(DB));
});

await check('client.close() (endSessions is answered by the front)', async () => {
  await client.close();
  const again = await new MongoClient(url).connect(); // the server must still be alive
  assert.equal((await again.db('admin').command({ ping: 1 })).ok, 1);
  await again.close();
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
