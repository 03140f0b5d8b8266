import {
  type CollectorRoute,
  delayTier,
  encodeBody,
  type OutgoingMessage,
  partitionOf,
  publishConfirmed,
  QUEUES,
  type QueueName,
  type Topology,
} from '@collect/common';
import type { Dispatch, PlanMessage, ShardQueue } from '@collect/core';
import type { ConfirmChannel } from 'amqplib';
import { z } from 'zod';

/** A message of the engine's queues (plan messages carry shard number -1). */
export const engineMessageSchema = z.object({
  taskId: z.string().min(1).max(64),
  shardNo: z.number().int().min(-1),
  gen: z.number().int().min(0),
  notBefore: z.number().optional(),
  inline: z.unknown().optional(),
});

/**
 * The engine's queue on RabbitMQ: a message for now goes to the main exchange with its route as
 * routing key; a delayed one to the route's delay queue of the tier below its delay (the
 * message's `notBefore` sends it round again for the rest). Every publish is persistent and
 * confirmed; bodies over `gzipMinBytes` are gzipped.
 */
export class RabbitShardQueue implements ShardQueue {
  /**
   * The routes with a declared queue (a message for any other would be dropped by the exchange),
   * with how many partitions each is split over.
   */
  private readonly routes: ReadonlyMap<string, number>;

  constructor(
    private readonly channel: () => Promise<ConfirmChannel>,
    private readonly topology: Topology,
    private readonly gzipMinBytes: number,
    collectorPartitions: ReadonlyMap<CollectorRoute, number>,
  ) {
    this.routes = new Map<string, number>([...QUEUES.map((q) => [q, 1] as const), ...collectorPartitions]);
  }

  /** The queue of a message's route: its partition's, by its shard, when the route has several. */
  private queueOf(route: string, message: Dispatch['message']): QueueName {
    const partitions = this.routes.get(route);
    if (partitions === undefined) throw new Error(`unknown route "${route}"`);
    if (partitions === 1) return route as QueueName;
    return `${route}.p${partitionOf(`${message.taskId}#${message.shardNo}`, partitions)}` as QueueName;
  }

  async publish(dispatches: Dispatch[]): Promise<void> {
    const now = new Map<string, OutgoingMessage[]>();
    const delayed: OutgoingMessage[] = [];
    for (const d of dispatches) {
      const queue = this.queueOf(d.route, d.message);
      const body = await encodeBody(Buffer.from(JSON.stringify(d.message)), this.gzipMinBytes);
      const messageId = `${d.message.taskId}#${d.message.shardNo}#${d.message.gen}`;
      if (d.delayMs && d.delayMs > 0) {
        delayed.push({
          routingKey: this.topology.delayQueue(queue, delayTier(d.delayMs)),
          messageId,
          ...body,
        });
      } else {
        const list = now.get(queue) ?? [];
        list.push({ routingKey: queue, messageId, ...body });
        now.set(queue, list);
      }
    }
    const ch = await this.channel();
    for (const list of now.values()) await publishConfirmed(ch, this.topology.exchange, list);
    // The default exchange routes by queue name.
    if (delayed.length > 0) await publishConfirmed(ch, '', delayed);
  }

  async publishPlan(message: PlanMessage, delayMs = 0): Promise<void> {
    await this.publish([
      {
        route: 'plan',
        message: { taskId: message.taskId, shardNo: -1, gen: message.attempt, notBefore: message.notBefore },
        delayMs,
      },
    ]);
  }
}

/** Plan messages travel as shard messages with shard number -1 and the attempt as generation. */
export const toPlanMessage = (m: {
  taskId: string;
  gen: number;
  notBefore?: number | undefined;
}): PlanMessage => ({
  taskId: m.taskId,
  attempt: m.gen,
  notBefore: m.notBefore,
});
