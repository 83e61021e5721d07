/**
 * The DynamoDB tables, as data. The CDK stack builds its tables from these definitions and the local
 * stack and the tests create theirs from the same ones (a test checks that the synthesized template
 * matches), so no process that runs the product needs aws-cdk-lib to know its schema.
 */

export interface KeyAttribute {
  name: string;
  type: 'S' | 'N';
}

/** A global secondary index; every index projects ALL attributes. */
export interface IndexDefinition {
  name: string;
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
}

export interface TableDefinition {
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
  indexes: readonly IndexDefinition[];
  /** TTL attribute (epoch seconds). */
  ttlAttribute: string;
  /** Kept when the stack is deleted (it holds records users care about). */
  retain: boolean;
  /** Point-in-time recovery. */
  pointInTimeRecovery: boolean;
}

/** GSI of the jobs table: partition key `status`, sort key `next_check_at` (epoch ms). */
export const STATUS_INDEX = 'by-status';

/**
 * Sparse GSI of the jobs table: jobs whose export has not yet taken in what happened to them (a page
 * COMPLETED with more records, EXPORTED or FAILED); `export_pending` exists only until the export has,
 * `export_due` is when the poller's sweep steps in if the function that moved the job did not.
 */
export const EXPORT_DUE_INDEX = 'by-export-due';

/**
 * GSIs of the exports table. By module, by status and all (`kind` is always "export") are sorted by
 * `export_id`, a ULID, so queried descending they list newest first. The sparse `by-attention` index
 * holds the exports the poller's sweep must look at (`attention_at`, epoch ms): a follow-up page to
 * create or retry, an event to publish.
 */
export const EXPORT_INDEXES = {
  byModule: 'by-module',
  byStatus: 'by-status',
  all: 'by-created',
  attention: 'by-attention',
} as const;

/** An index with a string partition key and a sort key, the shape of every index here. */
const index = (name: string, partitionKey: string, sortKey: KeyAttribute): IndexDefinition => ({
  name,
  partitionKey: { name: partitionKey, type: 'S' },
  sortKey,
});

export const TABLES = {
  /** One item per Zoho bulk read job. */
  jobs: {
    partitionKey: { name: 'job_id', type: 'S' },
    indexes: [
      index(STATUS_INDEX, 'status', { name: 'next_check_at', type: 'N' }),
      index(EXPORT_DUE_INDEX, 'export_pending', { name: 'export_due', type: 'N' }),
    ],
    ttlAttribute: 'expires_at',
    retain: true,
    pointInTimeRecovery: true,
  },
  /** One item per export: its query, its pages' job ids, its state, its manifest. */
  exports: {
    partitionKey: { name: 'export_id', type: 'S' },
    indexes: [
      index(EXPORT_INDEXES.byModule, 'module', { name: 'export_id', type: 'S' }),
      index(EXPORT_INDEXES.byStatus, 'status', { name: 'export_id', type: 'S' }),
      index(EXPORT_INDEXES.all, 'kind', { name: 'export_id', type: 'S' }),
      index(EXPORT_INDEXES.attention, 'attention', { name: 'attention_at', type: 'N' }),
    ],
    ttlAttribute: 'expires_at',
    retain: true,
    pointInTimeRecovery: true,
  },
  /**
   * Shared state that is only a cache or a coordination point: the OAuth access token and its refresh
   * lease, the download budget, idempotency keys (24 h). Safe to lose.
   */
  state: {
    partitionKey: { name: 'pk', type: 'S' },
    indexes: [],
    ttlAttribute: 'expires_at',
    retain: false,
    pointInTimeRecovery: true,
  },
} as const satisfies Record<string, TableDefinition>;

export type TableRole = keyof typeof TABLES;
export const TABLE_ROLES = Object.keys(TABLES) as TableRole[];

/** Every attribute a table's key schema or an index names, with its type. */
export function keyAttributes(def: TableDefinition): KeyAttribute[] {
  const all = [def.partitionKey, def.sortKey, ...def.indexes.flatMap((i) => [i.partitionKey, i.sortKey])];
  const seen = new Map<string, KeyAttribute>();
  for (const a of all) if (a && !seen.has(a.name)) seen.set(a.name, a);
  return [...seen.values()];
}
