import { createHash } from 'node:crypto';

/**
 * Gray (canary) release of a collector version for a job: a share of its runs, or exactly some
 * tenants, go to the candidate version while the rest stay on the stable one.
 */
export interface Release {
  stable: string;
  candidate?: {
    version: string;
    /** 0–100: the share of runs routed to the candidate. */
    percent?: number;
    /** These tenants' runs go to the candidate, whatever the percent. */
    tenants?: readonly string[];
  };
}

/** A run's bucket, 0–99, from its key (stable for one key, uniform over keys). */
export function bucketOf(key: string): number {
  return createHash('sha256').update(key).digest().readUInt32BE(0) % 100;
}

/**
 * The collector version a run uses. `runKey` identifies the run (its task id, say): the same key
 * always routes the same way, so a retry or a replay never switches versions.
 */
export function versionFor(release: Release, tenantId: string, runKey: string): string {
  const c = release.candidate;
  if (!c) return release.stable;
  if (c.tenants?.includes(tenantId)) return c.version;
  const percent = Math.max(0, Math.min(100, c.percent ?? 0));
  return bucketOf(runKey) < percent ? c.version : release.stable;
}
