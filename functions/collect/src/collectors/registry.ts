import type { Collector } from '@collect/core';
import type { TreeWrite } from '../adapters/page-stores';
import type { Config } from '../config';
import { httpTreeCollector } from './http-tree';
import { testRailCollector } from './testrail';

export type TreeCollector = Collector<unknown, unknown, unknown, unknown, TreeWrite>;

/** The collectors this service runs, by type. */
export function collectorRegistry(config: Config): ReadonlyMap<string, TreeCollector> {
  const limits = { timeoutMs: config.COLLECT_HTTP_TIMEOUT_MS, maxBytes: config.COLLECT_MAX_RESPONSE_BYTES };
  const all = [testRailCollector(limits), httpTreeCollector(limits)] as unknown as TreeCollector[];
  return new Map(all.map((c) => [c.type, c]));
}
