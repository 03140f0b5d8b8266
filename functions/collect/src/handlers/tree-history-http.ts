import { parseOr400, type Route, routedHandler } from '@collect/common';
import { diffVersions, listVersions } from '../app/tree-history';
import { getServices } from '../composition';
import { diffQuerySchema, versionsQuerySchema } from '../schemas';

/** The versions of a source's tree and what changed between two of them. */
const routes: Record<string, Route> = {
  'GET /api/testcase/versions': async (req) => {
    const q = parseOr400(versionsQuerySchema, req.query, 'query', 'query');
    return { status: 200, body: await listVersions(await getServices(), req.tenantId, q.source) };
  },
  'GET /api/testcase/diff': async (req) => {
    const q = parseOr400(diffQuerySchema, req.query, 'query', 'query');
    return { status: 200, body: await diffVersions(await getServices(), req.tenantId, q) };
  },
};

export const handler = routedHandler(routes);
