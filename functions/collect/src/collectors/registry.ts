import { type CollectorRoute, partitionQueues } from '@collect/common';
import type { Collector } from '@collect/core';
import type { TreeWrite } from '../adapters/page-stores';
import type { Config } from '../config';
import { httpTreeCollector } from './http-tree';
import { TESTRAIL_VERSIONS, testRailCollector } from './testrail';

export type TreeCollector = Collector<unknown, unknown, unknown, unknown, TreeWrite>;

/**
 * The collector versions this service runs. A run names its type and, when the register routes
 * it (gray release), its version; without one it gets the type's default, the first version the
 * service lists (the one every existing run used before the type had a second).
 */
export class CollectorSet {
  private readonly byType = new Map<string, TreeCollector[]>();

  private readonly partitionsOf: ReadonlyMap<string, number>;

  constructor(
    all: readonly TreeCollector[],
    partitions: Readonly<Record<string, number>> = COLLECTOR_PARTITIONS,
  ) {
    this.partitionsOf = new Map(Object.entries(partitions));
    for (const c of all) this.byType.set(c.type, [...(this.byType.get(c.type) ?? []), c]);
  }

  /** The version asked for (else the default one) of a type; undefined when either is unknown. */
  get(type: string, version?: string | null): TreeCollector | undefined {
    const versions = this.byType.get(type);
    return version == null ? versions?.[0] : versions?.find((c) => c.version === version);
  }

  types(): string[] {
    return [...this.byType.keys()];
  }

  versionsOf(type: string): string[] {
    return (this.byType.get(type) ?? []).map((c) => c.version);
  }

  all(): TreeCollector[] {
    return [...this.byType.values()].flat();
  }

  /** Every version's route (`type@version`): what the engine publishes to. */
  routes(): CollectorRoute[] {
    return this.all().map((c) => c.route as CollectorRoute);
  }

  /** How many queues each route is split over (see partitionQueues). */
  partitions(): ReadonlyMap<CollectorRoute, number> {
    return new Map(this.routes().map((r) => [r, this.partitionsOf.get(r) ?? 1]));
  }

  /** Every version's work queues: one per partition. */
  queues(): CollectorRoute[] {
    return [...this.partitions()].flatMap(([route, p]) => partitionQueues(route, p));
  }
}

/**
 * Partitions per collector version; one when not listed. Each partition needs its own
 * `rabbitmq` event on the version's function in functions.yml (the package test checks it).
 * TestRail 1, the stable version most runs take, is split in two so two environments consume it
 * on AWS; the others run on one.
 */
export const COLLECTOR_PARTITIONS: Readonly<Record<string, number>> = { 'testrail@1': 2 };

/** The collectors this service runs: TestRail 1 and 2, http-tree 1. */
export function collectorRegistry(config: Config): CollectorSet {
  const limits = { timeoutMs: config.COLLECT_HTTP_TIMEOUT_MS, maxBytes: config.COLLECT_MAX_RESPONSE_BYTES };
  return new CollectorSet([
    ...TESTRAIL_VERSIONS.map((version) => testRailCollector({ ...limits, version })),
    httpTreeCollector(limits),
  ] as unknown as TreeCollector[]);
}
