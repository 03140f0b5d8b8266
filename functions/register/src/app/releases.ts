import { badRequest, HttpError, isUuid, notFound, ProblemList, TENANT_ID_RE } from '@collect/common';
import { z } from 'zod';
import type { CollectorCatalog } from '../adapters/catalog.mysql';
import type { JobStore } from '../adapters/jobs.mysql';
import type { JobRelease, ReleaseStore } from '../adapters/releases.mysql';
import { type Release, versionFor } from '../domain/gray';
import { settingsProblems } from './settings';

export interface ReleaseDeps {
  catalog: CollectorCatalog;
  jobs: JobStore;
  releases: ReleaseStore;
}

export const releaseBodySchema = z
  .strictObject({
    /** The candidate: a registered version of the job's collector, other than the stable one. */
    version: z.string().min(1).max(32),
    /** The share of the job's runs routed to the candidate, 0–100 (whole percent). */
    percent: z.number().int().min(0).max(100).optional(),
    /** These tenants' runs all go to the candidate, whatever the percent. */
    tenants: z
      .array(z.string().regex(TENANT_ID_RE, 'must be a tenant id ([A-Za-z0-9_.-]{1,64})'))
      .max(1000)
      .optional(),
  })
  .refine((b) => b.percent !== undefined || b.tenants !== undefined, {
    message: 'say which runs go to the candidate: percent, tenants or both',
    path: ['percent'],
  });

const shownRelease = (r: JobRelease | undefined, stable: string | undefined) =>
  r
    ? {
        stable: stable ?? null,
        candidate: r.version,
        percent: r.percent,
        tenants: r.tenants,
        updatedAt: r.updatedAt,
      }
    : null;

async function enabledJob(deps: ReleaseDeps, tenantId: string, id: string) {
  const job = isUuid(id) ? await deps.jobs.get(tenantId, id) : undefined;
  if (!job?.enabled) throw notFound(`job "${id}"`);
  return job;
}

/** A job's release as shown (`null` when all its runs take the stable version). */
export async function releaseView(deps: ReleaseDeps, tenantId: string, jobId: string, collector: string) {
  return shownRelease(
    await deps.releases.get(tenantId, jobId),
    (await deps.catalog.stable(collector))?.version,
  );
}

/**
 * `PUT /api/jobs/{id}/release`: routes a share of the job's next runs (or its tenants' runs) to a
 * candidate version of its collector. The candidate must be registered, not be the stable
 * version already, and accept the job's settings; every problem comes back in one 400 and
 * nothing is written. Runs already started keep their version.
 */
export async function putRelease(deps: ReleaseDeps, tenantId: string, id: string, body: unknown) {
  const job = await enabledJob(deps, tenantId, id);
  const problems = new ProblemList();
  const parsed = releaseBodySchema.safeParse(body);
  if (!parsed.success) problems.addZod('', parsed.error);
  const raw = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const versions = await deps.catalog.versionsOf(job.collector);
  if (typeof raw.version === 'string') {
    const candidate = versions.find((v) => v.version === raw.version);
    if (!candidate)
      problems.add(
        'version',
        `"${job.collector}" has no version "${raw.version}"; registered: ${versions.map((v) => v.version).join(', ') || 'none'}`,
        'unknown_version',
      );
    else if (candidate.status === 'stable')
      problems.add(
        'version',
        `version ${candidate.version} is already the stable version of "${job.collector}"; DELETE the release to run only it`,
        'already_stable',
      );
    else settingsProblems(candidate.settingsSchema, job.settings, problems);
  }
  if (!parsed.success || problems.total > 0)
    throw badRequest(`the release has ${problems.total} problem(s)`, problems.items);
  const saved = await deps.releases.put(tenantId, job.collector, {
    jobId: job.id,
    version: parsed.data.version,
    percent: parsed.data.percent ?? 0,
    tenants: [...new Set(parsed.data.tenants ?? [])],
  });
  // Promoted meanwhile: it is the stable version now, which every run takes anyway.
  if (!saved)
    throw new HttpError(
      409,
      'CONFLICT',
      `version ${parsed.data.version} of "${job.collector}" became stable meanwhile`,
      {
        version: parsed.data.version,
        status: 'stable',
      },
    );
  return {
    jobId: job.id,
    release: shownRelease(saved, versions.find((v) => v.status === 'stable')?.version),
  };
}

/** `DELETE /api/jobs/{id}/release`: every next run takes the stable version again (idempotent). */
export async function deleteRelease(deps: ReleaseDeps, tenantId: string, id: string) {
  const job = await enabledJob(deps, tenantId, id);
  await deps.releases.delete(tenantId, job.id);
  return { jobId: job.id, release: null };
}

/**
 * The collector version a run of a job takes: the stable one, unless the job's release routes
 * this run (by its key: the same trigger always routes the same way) to its candidate.
 */
export async function versionForRun(
  deps: ReleaseDeps,
  tenantId: string,
  job: { id: string; collector: string },
  runKey: string,
): Promise<string> {
  const { stable, candidate } = await deps.releases.routing(tenantId, job.id, job.collector);
  if (!stable)
    throw new HttpError(409, 'CONFLICT', `collector "${job.collector}" is no longer registered`, {
      collector: job.collector,
    });
  const release: Release = { stable, ...(candidate ? { candidate } : {}) };
  return versionFor(release, tenantId, runKey);
}

/**
 * `POST /api/collectors/{type}/versions/{version}/promote`: makes a version the stable one for
 * every job. Refused (409) while an enabled job's settings do not fit its schema, naming the
 * caller's jobs among them; releases to that version end (they now run it as stable).
 */
export async function promoteVersion(deps: ReleaseDeps, tenantId: string, type: string, version: string) {
  const versions = await deps.catalog.versionsOf(type);
  if (versions.length === 0) throw notFound(`collector "${type}"`);
  const target = versions.find((v) => v.version === version);
  if (!target) throw notFound(`version "${version}" of collector "${type}"`);
  if (target.status !== 'stable') {
    const misfits: { id: string; tenantId: string }[] = [];
    for (const job of await deps.jobs.enabledOf(type)) {
      const problems = new ProblemList();
      settingsProblems(target.settingsSchema, job.settings, problems);
      if (problems.total > 0) misfits.push(job);
    }
    if (misfits.length > 0)
      throw new HttpError(
        409,
        'CONFLICT',
        `${misfits.length} enabled job(s) have settings version ${version} refuses; change them first`,
        { jobs: misfits.filter((j) => j.tenantId === tenantId).map((j) => j.id), total: misfits.length },
      );
    await deps.catalog.promote(type, version);
  }
  return { type, stable: version };
}
