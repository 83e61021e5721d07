/**
 * What the API answers, as the CLI reads it. The export, page, job and manifest shapes come from the
 * product's own types (lib/), so a change there shows up here at `tsc`. The schedule and a page's
 * Parquet entry are declared here with only the fields the CLI reads (the server's are
 * `PublicSchedule` in lib/schedules/run.ts and `ParquetFile` in lib/jobs/model.ts).
 */

// lib/contract.ts has no dependencies, so importing a value from it keeps the bundled CLI self-contained.
import { MODULE_PATTERN } from '../lib/contract.js';
import type { Manifest, ManifestPage } from '../lib/exports/manifest.js';
import type { ExportStatus, PublicExport, PublicPage } from '../lib/exports/model.js';
import type { JobStatus, PublicJob } from '../lib/jobs/model.js';
import type { ModuleList } from '../lib/modules/store.js';

export type { ExportStatus, JobStatus };

export type ApiExport = PublicExport;
export type ApiPage = PublicPage;
export type ApiJob = PublicJob;

/** The statuses the CLI accepts for `--status`; `satisfies` plus the checks below keep them equal to lib's. */
export const EXPORT_STATUSES = ['RUNNING', 'COMPLETED', 'FAILED'] as const satisfies readonly ExportStatus[];
export const JOB_STATUSES = [
  'PENDING',
  'DOWNLOADING',
  'EXPORTED',
  'FAILED',
] as const satisfies readonly JobStatus[];
type Exhaustive<All, Listed> = [All] extends [Listed] ? true : never;
const _exportStatusesComplete: Exhaustive<ExportStatus, (typeof EXPORT_STATUSES)[number]> = true;
const _jobStatusesComplete: Exhaustive<JobStatus, (typeof JOB_STATUSES)[number]> = true;
void _exportStatusesComplete;
void _jobStatusesComplete;

/** The export id, job id and module name shapes the API accepts (lib/exports/model.ts, lib/jobs/model.ts, lib/contract.ts). */
export const EXPORT_ID_PATTERN = /^ex_[0-9A-HJKMNP-TV-Z]{26}$/;
export const JOB_ID_PATTERN = /^[0-9]{1,19}$/;
export { MODULE_PATTERN };
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,100}$/;

/** A Parquet file beside a page's CSV: the fields of lib's `ParquetFile` that the CLI reads (a subset). */
export interface ManifestParquet {
  bucket: string;
  key: string;
  bytes: number;
  rows?: number;
}

export type CliManifestPage = Omit<ManifestPage, 'header'> & {
  header?: string[] | null;
  parquet?: ManifestParquet | null;
};

export type CliManifest = Omit<Manifest, 'pages'> & { pages: CliManifestPage[] };

/** `GET /schedules`: a single-module schedule (`module`, `watermark`) or a multi-module one (`modules`, `watermarks`). */
export interface ApiSchedule {
  name: string;
  module?: string;
  modules?: 'all' | string[];
  mode: 'full' | 'incremental' | 'formula_refresh';
  schedule: string;
  timezone: string;
  watermark?: string | null;
  watermarks?: Record<string, string | null>;
  running: boolean;
  last_run: {
    export_id?: string;
    snapshot_id?: string;
    status: string;
    started_at: string;
    failed_modules?: string[];
  } | null;
}

export interface ExportList {
  exports: ApiExport[];
  next: string | null;
}

export interface JobList {
  jobs: ApiJob[];
  next: string | null;
}

/** `GET /modules` (lib/modules/store.ts). */
export type ApiModuleList = ModuleList;
