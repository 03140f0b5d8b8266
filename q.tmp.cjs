const { MongoClient } = require('mongodb');
(async () => {
  const c = await MongoClient.connect('mongodb://127.0.0.1:27018');
  const db = c.db('collect_e2e_2855a1');
  const ev = db.collection('task_event');
  const from = new Date(process.argv[2]),
    to = new Date(process.argv[3]);
  const docs = await ev
    .find({ at: { $gte: from, $lt: to } })
    .sort({ at: 1 })
    .toArray();
  for (const d of docs)
    console.log(
      d.at.toISOString(),
      d.taskId.slice(0, 8),
      d.shardNo,
      d.type,
      (d.message || '').slice(0, 80),
      JSON.stringify(d.data || {}).slice(0, 100),
    );
  await c.close();
})();
