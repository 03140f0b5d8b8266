import { isUuid } from '@collect/common';
import { z } from 'zod';

/** Ids a case cannot have: GET /api/testcase/{id} could never read it (a route of its own, or a path step). */
const RESERVED_IDS: readonly string[] = ['.', '..', 'tree', 'versions', 'diff'];

/** Source ids: printable ASCII without '/', which separates ids in materialised paths. */
export const nodeIdSchema = z
  .string()
  .regex(/^[!-.0-~]{1,128}$/, 'must be 1–128 printable ASCII characters without "/"')
  // In a URL path they would name the directory itself or its parent (GET /api/testcase/..), or
  // the tree route (GET /api/testcase/tree), so such a case could never be read.
  .refine((id) => !RESERVED_IDS.includes(id), `must not be ${RESERVED_IDS.map((r) => `"${r}"`).join(', ')}`);
/** Task (and import) ids are lower-case UUIDs; anything else names no task (and is never sent to MySQL). */
export const isTaskId = isUuid;

export const sourceSchema = z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'must match [A-Za-z0-9_.:-]{1,128}');

/**
 * Text stored as given: no unpaired surrogate (a JSON "\ud800" escape), which MySQL and MongoDB
 * would each silently replace, so it could never come back byte-identical.
 */
const wellFormed = (s: z.ZodString) =>
  s.refine((v) => v.isWellFormed(), 'must be valid Unicode (no unpaired surrogate)');

const text = (max: number) => wellFormed(z.string().max(max, `must be at most ${max} characters`));

// Objects are strict: an unknown key (a typo such as "childern") is a 400, not data dropped.
export const caseContentSchema = z.strictObject({
  description: text(65_535).optional(),
  preconditions: text(65_535).optional(),
  steps: z
    .array(z.strictObject({ action: text(65_535), expected: text(65_535).optional() }))
    .max(1000)
    .optional(),
  /** Text, or a list of texts as in the original design's document (`"expectedResults": []`). */
  expectedResults: z.union([text(65_535), z.array(text(65_535)).max(1000)]).optional(),
});

export const caseMetadataSchema = z.strictObject({
  tags: z.array(text(128)).max(100).optional(),
  /** Text, or a number as in the original design's document (`"priority": 1`); kept as given. */
  priority: z.union([text(32), z.number().int().min(-1_000_000_000).max(1_000_000_000)]).optional(),
  status: text(32).optional(),
});

/**
 * One tree node as sent by a client. `children` is checked node by node by the tree walker
 * (iteratively, so a hostile nesting depth cannot overflow the stack), not by zod recursion.
 */
export const nodeSchema = z.strictObject({
  id: nodeIdSchema,
  type: z.enum(['DIRECTORY', 'CASE']),
  name: wellFormed(z.string())
    .refine((s) => s.trim().length > 0, 'must not be empty')
    // Code points, not UTF-16 units; a string of at most 255 units has at most 255 of them.
    .refine((s) => s.length <= 255 || [...s].length <= 255, 'must be at most 255 characters'),
  children: z.array(z.unknown()).optional(),
  content: caseContentSchema.optional(),
  metadata: caseMetadataSchema.optional(),
  /** Incremental upserts only: the node's parent (`null` for a top-level node). */
  parentId: nodeIdSchema.nullable().optional(),
  /** Incremental upserts only: position among siblings. */
  position: z.number().int().min(0).max(1_000_000_000).optional(),
});
export type InputNode = z.infer<typeof nodeSchema>;

/** The same object schema with every field also `null`-able (a merge patch's "clear this"). */
function nullableFields(schema: z.ZodObject) {
  const shape: Record<string, z.ZodType> = {};
  for (const [k, v] of Object.entries(schema.shape))
    shape[k] = (v as z.ZodOptional<z.ZodType>).unwrap().nullable().optional();
  return z.strictObject(shape);
}

/**
 * A node of an INCREMENTAL upsert: merged into the stored node (RFC 7386 merge patch). A field
 * left out keeps its stored value; `null` clears it (content, metadata, or one field of either).
 * `name` may be left out for a node that exists already.
 */
export const patchNodeSchema = nodeSchema.extend({
  name: nodeSchema.shape.name.optional(),
  content: nullableFields(caseContentSchema).nullable().optional(),
  metadata: nullableFields(caseMetadataSchema).nullable().optional(),
});

export const fullImportSchema = z.strictObject({
  source: sourceSchema,
  mode: z.literal('FULL'),
  /** One node or an array of top-level nodes; checked node by node by the tree walker. */
  tree: z.unknown().refine((v) => typeof v === 'object' && v !== null, 'must be a node or an array of nodes'),
});

export const incrementalImportSchema = z
  .strictObject({
    source: sourceSchema,
    mode: z.literal('INCREMENTAL'),
    upserts: z.array(z.unknown()).default([]),
    deletes: z.array(nodeIdSchema).default([]),
  })
  .refine((r) => r.upserts.length + r.deletes.length > 0, {
    message: 'an incremental import needs at least one upsert or delete',
    path: ['upserts'],
  });

/** Checked on its own too, so a bad mode does not hide a bad source. */
export const importEnvelopeSchema = z.object({ source: sourceSchema, mode: z.enum(['FULL', 'INCREMENTAL']) });

export const importRequestSchema = z.discriminatedUnion('mode', [fullImportSchema, incrementalImportSchema]);
export type ImportRequest = z.infer<typeof importRequestSchema>;

/** A node ready to store: flattened, with its materialised path and content hash. */
export interface FlatNode {
  id: string;
  type: 'DIRECTORY' | 'CASE';
  parentId: string | null;
  name: string;
  /** '/rootId/…/id' */
  path: string;
  level: number;
  position: number;
  /** Digest of type, content and metadata: equal hash = nothing to rewrite in MongoDB. */
  hash: string;
  content?: z.infer<typeof caseContentSchema> | null;
  metadata?: z.infer<typeof caseMetadataSchema> | null;
  /**
   * An INCREMENTAL upsert: `content` and `metadata` are a merge patch onto the stored case (absent
   * = keep, null = clear), merged by the worker against what is stored when it applies the node.
   */
  patch?: true;
}

const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);

export const flatNodeSchema = z.object({
  id: z.string(),
  type: z.enum(['DIRECTORY', 'CASE']),
  parentId: z.string().nullable(),
  name: z.string(),
  path: z.string(),
  level: z.number().int(),
  position: z.number().int(),
  hash: z.string(),
  // Checked in full at the HTTP edge; a shard message only carries them to the stores.
  content: z.custom<FlatNode['content']>(isObject).nullable().optional(),
  metadata: z.custom<FlatNode['metadata']>(isObject).nullable().optional(),
  patch: z.literal(true).optional(),
});

/** What an import shard applies: its page, carried by its message (or kept by a parked shard). */
export const importPageSchema = z.object({
  upserts: z.array(flatNodeSchema).default([]),
  deletes: z.array(z.string()).default([]),
});
export type ImportPage = z.infer<typeof importPageSchema>;

/** The RabbitMQ message of one import shard, as the import publishes it. */
export const importChunkMessageSchema = z.object({
  taskId: z.string(),
  shardNo: z.number().int().min(0),
  tenantId: z.string(),
  source: z.string(),
  mode: z.enum(['FULL', 'INCREMENTAL']),
  version: z.number().int().positive(),
  upserts: z.array(flatNodeSchema).default([]),
  deletes: z.array(z.string()).default([]),
});
export type ImportChunkMessage = z.infer<typeof importChunkMessageSchema>;

/** A tree version in a query: a positive integer, as published (see GET /api/testcase/versions). */
const versionParam = z
  .string()
  // At most 15 digits: every such number is exact as a JavaScript number.
  .regex(/^[1-9][0-9]{0,14}$/, 'must be a version number (a positive integer)')
  .transform(Number);

export const treeQuerySchema = z.object({
  source: sourceSchema,
  rootId: nodeIdSchema.optional(),
  depth: z.coerce.number().int().min(1).max(64).default(3),
  version: versionParam.optional(),
});

export const caseQuerySchema = z.object({ source: sourceSchema, version: versionParam.optional() });

export const versionsQuerySchema = z.object({ source: sourceSchema });

/** Where a diff page ended: the table (0 directories, 1 cases) and the last id looked at. */
export interface DiffPosition {
  table: 0 | 1;
  id: string;
}

export const encodeDiffCursor = (p: DiffPosition): string =>
  Buffer.from(JSON.stringify([p.table, p.id])).toString('base64url');

/** The position a cursor of this API names, or undefined for anything else. */
export function decodeDiffCursor(cursor: string): DiffPosition | undefined {
  try {
    const [table, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown];
    if ((table === 0 || table === 1) && typeof id === 'string' && id.length <= 128) return { table, id };
  } catch {}
  return undefined;
}

export const diffQuerySchema = z.object({
  source: sourceSchema,
  from: versionParam,
  /** Default: the published version. */
  to: versionParam.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
  cursor: z
    .string()
    .max(400)
    .refine((c) => decodeDiffCursor(c) !== undefined, 'not a cursor of this diff')
    .optional(),
});

export const openImportSchema = z.strictObject({ source: sourceSchema, mode: z.literal('FULL') });

export const importPartSchema = z.strictObject({
  /** Subtrees, each with `parentId`: null, or a directory of this part or an earlier one. */
  nodes: z.array(z.unknown()).min(1, 'a part has at least one node'),
});

/** How a collection run is split and paced (`strategy` of `POST /api/tasks`, and of a job). */
export const strategySchema = z.strictObject({
  shards: z.number().int().min(1).max(256).optional(),
  pageSize: z.number().int().min(1).max(1000).optional(),
  concurrency: z.number().int().min(0).max(256).optional(),
  ratePerSecond: z.number().min(0).max(10_000).optional(),
  retry: z
    .strictObject({
      maxAttempts: z.number().int().min(1).max(100).optional(),
      baseDelayMs: z.number().int().min(0).max(3_600_000).optional(),
      maxDelayMs: z.number().int().min(0).max(86_400_000).optional(),
    })
    .optional(),
});
