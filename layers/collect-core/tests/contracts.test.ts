import {
  FakeClock,
  MemoryBreakers,
  MemoryControlFlags,
  MemoryEventLog,
  MemoryFlowControl,
  MemoryPageStore,
  MemoryRateLimiter,
  MemoryShardQueue,
  MemoryTaskRepository,
} from '../src/testing';
import {
  breakersContract,
  controlFlagsContract,
  eventLogContract,
  flowControlContract,
  pageStoreContract,
  rateLimiterContract,
  shardQueueContract,
  taskRepositoryContract,
} from './contracts/ports';

// The in-memory adapters keep the contracts every real adapter keeps (tests/integration/port-contracts.test.ts).
taskRepositoryContract('memory', () => {
  const queue = new MemoryShardQueue();
  const repo = new MemoryTaskRepository(queue);
  return {
    repo,
    async seed(task, shards) {
      repo.insertTask(task);
      for (const s of shards) repo.insertShard(s);
    },
    published: async () => queue.take(),
  };
});
controlFlagsContract('memory', () => new MemoryControlFlags());
rateLimiterContract('memory', () => new MemoryRateLimiter(new FakeClock()));
eventLogContract('memory', () => new MemoryEventLog());
shardQueueContract('memory', () => {
  const queue = new MemoryShardQueue();
  return {
    queue,
    take: async (route) =>
      queue.messages
        .splice(0)
        .filter((m) => m.route === route)
        .map((m) => m.message),
  };
});
pageStoreContract<{ id: string }>('memory', () => {
  const repo = new MemoryTaskRepository(new MemoryShardQueue());
  const pages = new MemoryPageStore<{ id: string }>(repo, (r) => r.id);
  let n = 0;
  return {
    pages,
    repo,
    async seed(task, shards) {
      repo.insertTask(task);
      for (const s of shards) repo.insertShard(s);
    },
    page: (task, count) =>
      Array.from({ length: count }, () => {
        n += 1;
        return { id: `${task.id}/${n}` };
      }),
    stored: async (task) => [...pages.records.keys()].filter((k) => k.startsWith(`${task.id}/`)).sort(),
    keepsCursor: true,
  };
});
flowControlContract('memory', () => {
  const clock = new FakeClock();
  const flow = new MemoryFlowControl(clock);
  return {
    flow,
    setLimit: async (key, limit) => void flow.limits.set(key, limit),
    inUse: async (key) => flow.inUse(key),
    expire: async (ms) => {
      clock.t += ms;
    },
    adapted: async (key) => flow.adapted.get(key),
  };
});
breakersContract('memory', () => {
  const clock = new FakeClock();
  return {
    breakers: new MemoryBreakers(clock, { threshold: 2, coolDownMs: 300 }),
    expire: async (ms) => {
      clock.t += ms;
    },
  };
});
