/**
 * Runs a module view's SQL (as the catalog stores it, Athena's format) in DuckDB over the Parquet files
 * now in a harness's bucket: the module table and its deletions table as DuckDB views over the files,
 * as `zoho-export query` builds them locally.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { tableNameOf } from '../../lib/exports/catalog.js';
import { prestoViewOf } from '../../lib/tables/views.js';
import { duck, sq } from '../analytics/helpers.js';
import type { Harness } from './pipeline.js';

/** Every key under `prefix` in the harness's bucket. */
export async function keysUnder(hh: Harness, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const r = await hh.aws.s3.send(
      new ListObjectsV2Command({ Bucket: hh.config.BUCKET, Prefix: prefix, ContinuationToken: token }),
    );
    out.push(...(r.Contents ?? []).map((o) => o.Key!));
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** `SELECT <select> FROM (<view's SQL>) v ORDER BY 1`, the files copied into a folder under `scratch`. */
export async function queryView(
  hh: Harness,
  scratch: string,
  module: string,
  view: string,
  select: string,
): Promise<Record<string, unknown>[]> {
  const stored = await hh.exportDeps.catalog!.views.readView(view);
  if (!stored) throw new Error(`no view ${view}`);
  const { originalSql } = prestoViewOf(stored.input);
  const dir = path.join(scratch, `q-${Date.now()}-${Math.random()}`);
  const root = `${hh.config.S3_PREFIX}/parquet/`;
  for (const key of await keysUnder(hh, root)) {
    const file = path.join(dir, key.slice(root.length));
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, await hh.objectBytes(key));
  }
  const table = tableNameOf(module);
  // A module with no deletions file yet reads an empty table of that name: the view may name it.
  const over = (sub: string) =>
    `SELECT * FROM read_parquet(${sq(path.join(dir, sub, '**', '*.parquet'))}, hive_partitioning=true, union_by_name=true)`;
  const hasDeletions = (await keysUnder(hh, `${root}deletions/module=${module}/`)).length > 0;
  try {
    return await duck(
      [
        'CREATE SCHEMA zoho_crm;',
        `CREATE VIEW zoho_crm.${table} AS ${over(`module=${module}`)};`,
        ...(hasDeletions
          ? [`CREATE VIEW zoho_crm.${table}_deletions AS ${over(`deletions/module=${module}`)};`]
          : []),
        `SELECT ${select} FROM (${originalSql}) v ORDER BY 1`,
      ].join('\n'),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
