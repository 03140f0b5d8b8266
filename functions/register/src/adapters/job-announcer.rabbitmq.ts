import { publishConfirmed, type Topology } from '@collect/common';
import type { ConfirmChannel } from 'amqplib';
import type { JobAnnouncer } from '../ports';

/** Announces disabled jobs on the `job-disabled` queue (persistent, confirmed). */
export class RabbitJobAnnouncer implements JobAnnouncer {
  constructor(
    private readonly channel: () => Promise<ConfirmChannel>,
    private readonly topology: Topology,
  ) {}

  async disabled(tenantId: string, jobId: string): Promise<void> {
    await publishConfirmed(await this.channel(), this.topology.exchange, [
      {
        routingKey: 'job-disabled',
        messageId: `job-disabled/${jobId}/${Date.now()}`,
        body: Buffer.from(JSON.stringify({ tenantId, jobId })),
      },
    ]);
  }
}
