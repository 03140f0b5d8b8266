import type { Task } from '@collect/core';

/**
 * The flow keys a task's shards run under: its tenant, its job, and the host of its source
 * (`settings.baseUrl`), so limits can be set per tenant, per job and per source host.
 */
export function flowKeysOf(task: Task): string[] {
  const keys = [`tenant:${task.tenantId}`];
  if (task.jobId) keys.push(`job:${task.jobId}`);
  const baseUrl = (task.settings as { baseUrl?: unknown } | null)?.baseUrl;
  if (typeof baseUrl === 'string' && URL.canParse(baseUrl)) keys.push(`host:${new URL(baseUrl).host}`);
  return keys;
}
