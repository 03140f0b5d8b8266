#!/usr/bin/env node

// Usage: node ping.mjs URL [TIMEOUT_MS]   -> exit 0 when a MongoDB server at URL answers ping.
//
// Used by start.sh for readiness and for "is MONGO_URL already reachable?". If the project's
// `mongodb` driver is installed it is used, so any URL the app accepts (auth, SRV, replica sets)
// is checked the way the app would connect. Without it (e.g. before `npm ci`) a bare OP_MSG
// ping is sent to the URL's first host, which is all the local server needs. Either way it is a
// real round trip through the server, not just a TCP connect.

import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const [url, timeoutArg] = process.argv.slice(2);
const timeoutMs = Number(timeoutArg || 2000);
if (!url) {
  console.error('usage: node ping.mjs URL [TIMEOUT_MS]');
  process.exit(2);
}

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

async function pingWithDriver(driver) {
  const client = new driver.MongoClient(url, {
    serverSelectionTimeoutMS: timeoutMs,
    connectTimeoutMS: timeoutMs,
    socketTimeoutMS: timeoutMs,
  });
  try {
    const reply = await client.db('admin').command({ ping: 1 });
    if (reply.ok !== 1) throw new Error(`ping answered ${JSON.stringify(reply)}`);
  } finally {
    await client.close().catch(() => {});
  }
}

function firstHost(u) {
  const m = /^mongodb:\/\/(?:[^@/]*@)?([^,/?]+)/.exec(u);
  if (!m) throw new Error(`cannot parse ${u} without the mongodb driver`);
  const hostPort = m[1];
  const ipv6 = /^\[(.*)\](?::(\d+))?$/.exec(hostPort);
  if (ipv6) return { host: ipv6[1], port: Number(ipv6[2] || 27017) };
  const [host, port] = hostPort.split(':');
  return { host, port: Number(port || 27017) };
}

// OP_MSG { ping: 1, $db: "admin" }, hand-encoded.
function pingMessage() {
  const doc = Buffer.concat([
    Buffer.from([0x10]),
    Buffer.from('ping\0'),
    Buffer.from([1, 0, 0, 0]),
    Buffer.from([0x02]),
    Buffer.from('$db\0'),
    Buffer.from([6, 0, 0, 0]),
    Buffer.from('admin\0'),
  ]);
  const bson = Buffer.alloc(4 + doc.length + 1);
  bson.writeInt32LE(bson.length, 0);
  doc.copy(bson, 4);
  const msg = Buffer.alloc(16 + 4 + 1 + bson.length);
  msg.writeInt32LE(msg.length, 0);
  msg.writeInt32LE(1, 4); // requestID
  msg.writeInt32LE(0, 8); // responseTo
  msg.writeInt32LE(2013, 12); // OP_MSG
  msg.writeUInt32LE(0, 16); // flagBits
  msg.writeUInt8(0, 20); // body section
  bson.copy(msg, 21);
  return msg;
}

// Value of the top-level "ok" field of a BSON document (numeric types only), or undefined.
function okField(bson) {
  const fixed = { 1: 8, 7: 12, 8: 1, 9: 8, 10: 0, 16: 4, 17: 8, 18: 8, 19: 16 };
  let off = 4;
  while (off < bson.length - 1) {
    const type = bson[off];
    const nameEnd = bson.indexOf(0, off + 1);
    const name = bson.toString('utf8', off + 1, nameEnd);
    const v = nameEnd + 1;
    if (name === 'ok') {
      if (type === 0x01) return bson.readDoubleLE(v);
      if (type === 0x10) return bson.readInt32LE(v);
      if (type === 0x12) return Number(bson.readBigInt64LE(v));
      if (type === 0x08) return bson[v];
    }
    if (type in fixed) off = v + fixed[type];
    else if (type === 0x02 || type === 0x0d || type === 0x0e) off = v + 4 + bson.readInt32LE(v);
    else if (type === 0x03 || type === 0x04) off = v + bson.readInt32LE(v);
    else if (type === 0x05) off = v + 5 + bson.readInt32LE(v);
    else return undefined; // a type we do not skip; not expected in a ping reply
  }
  return undefined;
}

function pingRaw() {
  const { host, port } = firstHost(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    let buf = Buffer.alloc(0);
    socket.on('connect', () => socket.write(pingMessage()));
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 4 || buf.length < buf.readInt32LE(0)) return;
      clearTimeout(timer);
      socket.end();
      if (buf.readInt32LE(12) !== 2013) return reject(new Error('reply is not OP_MSG'));
      const ok = okField(buf.subarray(21));
      if (ok === 1) resolve();
      else reject(new Error('ping did not answer ok: 1'));
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => reject(new Error('connection closed before a reply')));
  });
}

let driver = null;
try {
  driver = createRequire(path.join(projectRoot, 'noop.js'))('mongodb');
} catch {}

try {
  await (driver ? pingWithDriver(driver) : pingRaw());
  process.exit(0);
} catch (error) {
  if (process.env.MONGO_PING_VERBOSE) console.error(`ping ${url}: ${error.message}`);
  process.exit(1);
}
