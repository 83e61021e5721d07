/**
 * The manifest: one JSON object per COMPLETED export, written before the export is marked COMPLETED.
 * It is the commit point: a consumer that reads only the files listed in manifests never sees a
 * partial export. One line of JSON (so Athena's JSON SerDe reads it as one row).
 */
import { createHash } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { JobRecord, ParquetFile } from '../jobs/model.js';
import type { ManifestDeletions } from '../schedules/deletions.js';
import type { TableChange } from './catalog.js';
import type { ExportRecord, ManifestLocation } from './model.js';

export const MANIFEST_VERSION = 1;

export interface ManifestPage {
  page: number;
  job_id: string;
  /** Zoho's `count`, verified against the file. */
  records: number;
  csv: { bucket: string; key: string; bytes: number; crc32: string | null };
  /** Field names in file order. */
  header: string[] | null;
  /** The page's typed copy (exports written as Parquet). */
  parquet?: ParquetFile;
}

export interface Manifest {
  manifest_version: number;
  export_id: string;
  module: string | null;
  source: string;
  query: ExportRecord['query'];
  zoho_api_version: string;
  mode: ExportRecord['mode'];
  formats: ExportRecord['formats'];
  created_at: string;
  completed_at: string;
  export_date: string;
  pages: ManifestPage[];
  totals: { pages: number; records: number; bytes: number };
  /** What the export did to the catalog (Parquet): the module's table, created or widened, type changes. */
  catalog?: TableChange;
  /**
   * Incremental exports: the records Zoho deleted from the module since the window's start (the
   * deletions file, CSV and Parquet, and its table). Apply them after the pages (README: Schedules).
   */
  deletions?: ManifestDeletions;
}

export function buildManifest(
  e: ExportRecord,
  jobs: JobRecord[],
  completedAt: string,
  catalog?: TableChange,
  deletions?: ManifestDeletions,
): Manifest {
  const pages = jobs.map((j, i): ManifestPage => {
    if (j.status !== 'EXPORTED' || !j.s3) throw new Error(`page ${i + 1} (${j.job_id}) is not exported`);
    return {
      page: j.page ?? i + 1,
      job_id: j.job_id,
      records: j.records ?? 0,
      csv: { bucket: j.s3.bucket, key: j.s3.key, bytes: j.s3.bytes, crc32: j.crc32 ?? null },
      header: j.header ?? null,
      ...(j.parquet ? { parquet: j.parquet } : {}),
    };
  });
  return {
    manifest_version: MANIFEST_VERSION,
    export_id: e.export_id,
    module: e.module ?? null,
    source: e.source,
    query: e.query,
    zoho_api_version: e.api_version,
    mode: e.mode ?? 'full',
    formats: e.formats ?? ['csv'],
    created_at: e.created_at,
    completed_at: completedAt,
    export_date: e.export_date,
    pages,
    totals: {
      pages: pages.length,
      records: pages.reduce((n, p) => n + p.records, 0),
      bytes: pages.reduce((n, p) => n + p.csv.bytes, 0),
    },
    ...(catalog ? { catalog } : {}),
    ...(deletions ? { deletions } : {}),
  };
}

/** Writes the manifest in one PutObject, with its MD5 (S3 refuses a body that does not match it). */
export async function writeManifest(s3: S3Client, at: ManifestLocation, manifest: Manifest): Promise<void> {
  await putJsonWithMd5(s3, at, manifest, { 'export-id': manifest.export_id });
}

/**
 * Puts `value` as one line of JSON in one PutObject, with its MD5 (S3 refuses a body that does not
 * match it): the export's manifest here, the snapshot's in lib/snapshots/end.ts.
 */
export async function putJsonWithMd5(
  s3: S3Client,
  at: ManifestLocation,
  value: unknown,
  metadata: Record<string, string>,
): Promise<void> {
  const body = Buffer.from(`${JSON.stringify(value)}\n`, 'utf8');
  await s3.send(
    new PutObjectCommand({
      Bucket: at.bucket,
      Key: at.key,
      Body: body,
      ContentType: 'application/json',
      ContentMD5: createHash('md5').update(body).digest('base64'),
      Metadata: metadata,
    }),
  );
}
