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

export const TABLES = {
  /** One item per Zoho bulk read job. */
  jobs: {
    partitionKey: { name: 'job_id', type: 'S' },
    indexes: [
      {
        name: STATUS_INDEX,
        partitionKey: { name: 'status', type: 'S' },
        sortKey: { name: 'next_check_at', type: 'N' },
      },
    ],
    ttlAttribute: 'expires_at',
    retain: true,
    pointInTimeRecovery: true,
  },
  /**
   * Shared state that is only a cache or a coordination point: the OAuth access token and its refresh
   * lease, the download budget. Safe to lose.
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
