import { type Db, MongoClient } from 'mongodb';
import { loadConfig } from '../config';

let client: MongoClient | undefined;
let connecting: Promise<MongoClient> | undefined;

/** The container's MongoDB database (from the path of MONGO_URL, default `collect`). */
export async function mongoDb(): Promise<Db> {
  const c = await mongoClient();
  return c.db();
}

export async function mongoClient(): Promise<MongoClient> {
  if (client) return client;
  connecting ??= (async () => {
    const cfg = loadConfig();
    const c = new MongoClient(cfg.MONGO_URL, { maxPoolSize: 8, serverSelectionTimeoutMS: 5000 });
    await c.connect();
    client = c;
    return c;
  })();
  try {
    return await connecting;
  } finally {
    connecting = undefined;
  }
}

export async function closeMongo(): Promise<void> {
  const c = client;
  client = undefined;
  await c?.close();
}
