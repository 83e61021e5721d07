// Over 450 lines on purpose: the whole job state machine, every transition and its guard in one file (the one place its conditions are written).
/**
 * The job state machine. Every change of a job is one named operation below, and its condition is
 * written here and nowhere else: the condition names the state (and the claim token) the writer saw,
 * so two pollers, two downloaders or a duplicated message can never both win. Operations that lose
 * answer false / undefined; the caller then does nothing (someone else moved the job on).
 *
 *   register ──▶ PENDING ──claimCheck──▶ (checking) ──stillPending / checkFailed──▶ PENDING
 *                                         │ startDownload
 *                                         ▼
 *               DOWNLOADING ◀──redispatch── (lease over)     makeDue: a PENDING job is due now
 *                 │ claimDownload ──▶ (downloading) ──deferDownload / retryDownload──▶ DOWNLOADING
 *                 │                                  └──exported──▶ EXPORTED
 *                 └── fail (from any claim or seen state) ──▶ FAILED
 */
import { randomUUID } from 'node:crypto';
import { decodeCursor, encodeCursor, readKeyShape } from '../ddb/cursor.js';
import { and, type Cond, eq, exists, gt, le, lt, missing, ne, or, type Update } from '../ddb/expr.js';
import { type CorruptRecordError, getRecord, parseAllRecords, parseRecords } from '../ddb/record.js';
import { type Item, keyOf, type Table, type TransactOp } from '../ddb/table.js';
import { EXPORT_DUE_INDEX, STATUS_INDEX, TABLES } from '../tables.js';
import {
  type ExportReaction,
  type JobError,
  type JobRecord,
  type JobStatus,
  jobRecordSchema,
  type ParquetFile,
  type S3Location,
} from './model.js';

/** The key each listing pages with, so a cursor of another shape is refused (400 INVALID_CURSOR). */
const LIST_KEYS = {
  all: readKeyShape(TABLES.jobs),
  byStatus: readKeyShape(TABLES.jobs, STATUS_INDEX),
};

/** What a writer holds: a claim it took, or the state it read. */
export type Guard =
  | { kind: 'check'; token: string }
  | { kind: 'download'; owner: string }
  | { kind: 'seen'; status: JobStatus; nextCheckAt: number };

/** The condition of each guard: the one place a job's write conditions are written. */
export function guardCondition(g: Guard): Cond {
  switch (g.kind) {
    case 'check':
      return and(eq('status', 'PENDING'), eq('poll_token', g.token));
    case 'download':
      return and(eq('status', 'DOWNLOADING'), eq('download_owner', g.owner));
    case 'seen':
      return and(eq('status', g.status), eq('next_check_at', g.nextCheckAt));
  }
}

/** What a status check learnt, written on every outcome. */
export type Observed = Partial<Pick<JobRecord, 'zoho_state' | 'module' | 'page' | 'checks'>>;

/** What a COMPLETED status gives the download. */
export interface CompletedResult {
  records: number;
  download_url: string;
  api_version: string;
  more_records: boolean;
  next_page_token?: string | undefined;
  next_job_id?: string | undefined;
  follow_up_error?: JobError | undefined;
}

/** What `register` may set besides the id. */
export type RegisterInit = Partial<
  Pick<
    JobRecord,
    | 'module'
    | 'page'
    | 'previous_job_id'
    | 'api_version'
    | 'export_id'
    | 'export_date'
    | 'export_source'
    | 'parquet_wanted'
    | 'callback'
    | 'callback_nonce'
  >
>;

const CLAIMS = ['poll_token', 'download_owner', 'dispatch_id'] as const;

/** The attributes of a pending export reaction (`exportFlag`), and the sweep's failures on it in a row. */
const EXPORT_FLAG = ['export_pending', 'export_due', 'export_reaction', 'export_failures'] as const;

/**
 * A transition its export must take in (a page with more records, EXPORTED, converted, FAILED) flags
 * the job, atomically with the transition, and stores which reaction is pending (`export_reaction`);
 * the function that made it tells the export at once and clears the flag (`exportHandled`). If it died
 * first, the poller's sweep finds the job through the sparse index this long after and runs the stored
 * reaction (lib/exports/reactions.ts owns the protocol; docs/architecture.md draws its table).
 */
export const EXPORT_FOLLOW_THROUGH_MS = 2 * 60_000;

/**
 * A page of jobs read for a sweep: the jobs that parse, and an error for each stored item that does
 * not (the caller logs it and goes on with the rest; see lib/ddb/record.ts).
 */
export interface JobPage {
  jobs: JobRecord[];
  corrupt: CorruptRecordError[];
  lastKey: Record<string, unknown> | undefined;
}

export class JobStore {
  constructor(
    readonly table: Table,
    private readonly now: () => number = Date.now,
    private readonly retentionSeconds = 90 * 86_400,
  ) {}

  private iso(ms = this.now()): string {
    return new Date(ms).toISOString();
  }

  private key(jobId: string): Record<string, string> {
    return { job_id: jobId };
  }

  /** The conditional write behind every transition; `updated_at` is always set. */
  private async write(jobId: string, update: Update, condition: Cond): Promise<boolean> {
    const set = { ...update.set, updated_at: this.iso() };
    return (await this.table.update(this.key(jobId), { ...update, set }, condition)) !== false;
  }

  /**
   * The flag of a transition the job's export must take in, with the reaction it needs (nothing for a
   * job without an export); the sweep steps in at `due`.
   */
  private exportFlag(
    reaction: ExportReaction | false,
    due = this.now() + EXPORT_FOLLOW_THROUGH_MS,
  ): Record<string, unknown> {
    return reaction ? { export_pending: 'yes', export_due: due, export_reaction: reaction } : {};
  }

  private finishedAt(): { next_check_at: number; expires_at: number } {
    return { next_check_at: this.now(), expires_at: Math.floor(this.now() / 1000) + this.retentionSeconds };
  }

  // ------------------------------------------------------------------ reads

  async get(jobId: string): Promise<JobRecord | undefined> {
    return getRecord(this.table, jobRecordSchema, this.key(jobId));
  }

  /** A sweep's page: the items that parse as jobs, and the errors of those that do not. */
  private sweepPage(page: { items: Item[]; lastKey: Item | undefined }): JobPage {
    const { records, corrupt } = parseRecords(jobRecordSchema, page.items, this.table.name, (i) =>
      keyOf(this.table.definition, i),
    );
    return { jobs: records, corrupt, lastKey: page.lastKey };
  }

  /** Lists jobs, by status through the index, or all (a paginated scan, for the API only). */
  async list(opts: {
    status?: JobStatus;
    limit: number;
    cursor?: string;
  }): Promise<{ jobs: JobRecord[]; next: string | null }> {
    const start = opts.cursor
      ? decodeCursor(opts.cursor, opts.status ? LIST_KEYS.byStatus : LIST_KEYS.all)
      : undefined;
    const page = opts.status
      ? await this.table.query({
          index: STATUS_INDEX,
          partition: opts.status,
          limit: opts.limit,
          startKey: start,
        })
      : await this.table.scan({ limit: opts.limit, startKey: start });
    // The API shows every job it lists: one that does not parse fails the listing (500), never hidden.
    const jobs = parseAllRecords(jobRecordSchema, page.items, this.table.name, (i) =>
      keyOf(this.table.definition, i),
    );
    return { jobs, next: encodeCursor(page.lastKey) };
  }

  /** One page of jobs in `status` whose `next_check_at` has passed. */
  async due(
    status: JobStatus,
    now: number,
    limit: number,
    startKey?: Record<string, unknown>,
  ): Promise<JobPage> {
    const page = await this.table.query({
      index: STATUS_INDEX,
      partition: status,
      sort: { op: 'le', value: now },
      limit,
      startKey,
    });
    return this.sweepPage(page);
  }

  // ------------------------------------------------------------------ transitions

  /** A new PENDING job record, due now. */
  newJob(jobId: string, init: RegisterInit = {}): JobRecord {
    const now = this.now();
    const job: JobRecord = {
      job_id: jobId,
      status: 'PENDING',
      zoho_state: null,
      module: init.module ?? null,
      page: init.page ?? null,
      created_at: this.iso(now),
      updated_at: this.iso(now),
      attempts: 0,
      records: null,
      next_check_at: now,
      checks: 0,
    };
    for (const k of [
      'previous_job_id',
      'api_version',
      'export_id',
      'export_date',
      'export_source',
    ] as const) {
      if (init[k]) job[k] = init[k];
    }
    if (init.parquet_wanted) job.parquet_wanted = true;
    if (init.callback) job.callback = true;
    if (init.callback_nonce) job.callback_nonce = init.callback_nonce;
    return job;
  }

  /** The transaction write that registers `job` unless its id is already known. */
  registerOp(job: JobRecord): TransactOp {
    return {
      type: 'put',
      table: this.table,
      item: job,
      condition: missing('job_id'),
    };
  }

  /** The transaction write that links a page to the next one (set once). */
  linkNextOp(jobId: string, nextJobId: string): TransactOp {
    return this.setOnceOp(
      jobId,
      { next_job_id: nextJobId },
      or(missing('next_job_id'), eq('next_job_id', nextJobId)),
    );
  }

  /** The transaction write that marks a page's job as replaced by `byJobId` (set once; its state stays). */
  replacedOp(jobId: string, byJobId: string): TransactOp {
    return this.setOnceOp(jobId, { replaced_by: byJobId }, missing('replaced_by'));
  }

  /** A transaction update of an existing job: `set` (and `updated_at`) where `unset` holds. */
  private setOnceOp(jobId: string, set: Record<string, string>, unset: Cond): TransactOp {
    return {
      type: 'update',
      table: this.table,
      key: this.key(jobId),
      update: { set: { ...set, updated_at: this.iso() } },
      condition: and(exists('job_id'), unset),
    };
  }

  /**
   * A page its export dropped (a recovery restarted the export from an earlier page): marked replaced
   * by `byJobId`; if it is still PENDING or DOWNLOADING it ends FAILED with REPLACED (whoever holds a
   * claim on it loses it), so it is neither checked nor downloaded again. False if already marked.
   */
  async supersede(job: JobRecord, byJobId: string): Promise<boolean> {
    if (job.status === 'PENDING' || job.status === 'DOWNLOADING') {
      const ok = await this.write(
        job.job_id,
        {
          set: {
            status: 'FAILED',
            error: { code: 'REPLACED', message: `the page was re-created as job ${byJobId}` },
            replaced_by: byJobId,
            ...this.finishedAt(),
          },
          remove: [...CLAIMS, 'last_error', ...EXPORT_FLAG],
        },
        and(missing('replaced_by'), or(eq('status', 'PENDING'), eq('status', 'DOWNLOADING'))),
      );
      if (ok) return true;
    }
    return this.write(
      job.job_id,
      { set: { replaced_by: byJobId } },
      and(exists('job_id'), missing('replaced_by')),
    );
  }

  /** Registers a job as PENDING, due now; returns the existing record instead if it is already there. */
  async register(jobId: string, init: RegisterInit = {}): Promise<{ created: boolean; job: JobRecord }> {
    const job = this.newJob(jobId, init);
    if (await this.table.put(job, missing('job_id'))) return { created: true, job };
    const existing = await this.get(jobId);
    if (!existing) throw new Error(`job ${jobId} exists and vanished`);
    return { created: false, job: existing };
  }

  /** Claims a due PENDING job for one status check; only one poller wins a given `next_check_at`. */
  async claimCheck(job: JobRecord, leaseUntil: number): Promise<Guard | undefined> {
    const token = randomUUID();
    const ok = await this.write(
      job.job_id,
      { set: { poll_token: token, next_check_at: leaseUntil } },
      guardCondition({ kind: 'seen', status: 'PENDING', nextCheckAt: job.next_check_at }),
    );
    return ok ? { kind: 'check', token } : undefined;
  }

  /** Zoho still works on it (or answered a state we do not know): check again at `nextCheckAt`. */
  stillPending(jobId: string, claim: Guard, observed: Observed, nextCheckAt: number): Promise<boolean> {
    return this.write(
      jobId,
      {
        set: { ...observed, consecutive_errors: 0, next_check_at: nextCheckAt },
        remove: ['poll_token', 'last_error'],
      },
      guardCondition(claim),
    );
  }

  /** A retryable error during the check: keep it PENDING, remember the error, check again later. */
  checkFailed(
    jobId: string,
    claim: Guard,
    error: JobError,
    consecutiveErrors: number,
    nextCheckAt: number,
  ): Promise<boolean> {
    return this.write(
      jobId,
      {
        set: { consecutive_errors: consecutiveErrors, last_error: error, next_check_at: nextCheckAt },
        remove: ['poll_token'],
      },
      guardCondition(claim),
    );
  }

  /** COMPLETED at Zoho: PENDING → DOWNLOADING with a new dispatch id; returns it, or undefined if the claim was lost. */
  async startDownload(
    jobId: string,
    claim: Guard,
    observed: Observed,
    result: CompletedResult,
    graceUntil: number,
    flagExport = false,
  ): Promise<string | undefined> {
    const dispatchId = randomUUID();
    const ok = await this.write(
      jobId,
      {
        set: {
          ...observed,
          consecutive_errors: 0,
          status: 'DOWNLOADING',
          records: result.records,
          download_url: result.download_url,
          api_version: result.api_version,
          more_records: result.more_records,
          next_page_token: result.next_page_token,
          next_job_id: result.next_job_id,
          follow_up_error: result.follow_up_error,
          dispatch_id: dispatchId,
          next_check_at: graceUntil,
          // The export must want the next page.
          ...this.exportFlag(flagExport && result.more_records && 'page_completed'),
        },
        remove: ['poll_token', 'last_error'],
      },
      guardCondition(claim),
    );
    return ok ? dispatchId : undefined;
  }

  /** A DOWNLOADING job whose lease ran out (unclaimed dispatch, or a downloader that died): dispatch again. */
  async redispatch(job: JobRecord, graceUntil: number): Promise<string | undefined> {
    const dispatchId = randomUUID();
    const ok = await this.write(
      job.job_id,
      { set: { dispatch_id: dispatchId, next_check_at: graceUntil }, remove: ['download_owner'] },
      guardCondition({ kind: 'seen', status: 'DOWNLOADING', nextCheckAt: job.next_check_at }),
    );
    return ok ? dispatchId : undefined;
  }

  /**
   * Claims a dispatched download and counts the attempt: one downloader per dispatch; a duplicate
   * delivery finds the claim taken, unless the holder's lease has run out.
   */
  async claimDownload(jobId: string, dispatchId: string, leaseUntil: number): Promise<Guard | undefined> {
    const owner = randomUUID();
    const ok = await this.write(
      jobId,
      { set: { download_owner: owner, next_check_at: leaseUntil }, add: { attempts: 1 } },
      and(
        eq('status', 'DOWNLOADING'),
        eq('dispatch_id', dispatchId),
        or(missing('download_owner'), lt('next_check_at', this.now())),
      ),
    );
    return ok ? { kind: 'download', owner } : undefined;
  }

  /**
   * Gives a claimed download back for a later start without counting the attempt (no download slot
   * yet, no access token): a new dispatch id for the message that brings it back at `retryAt`; the
   * poller dispatches it again if that message is lost.
   */
  async deferDownload(
    jobId: string,
    claim: Guard,
    retryAt: number,
    graceMs: number,
  ): Promise<string | undefined> {
    const dispatchId = randomUUID();
    const ok = await this.write(
      jobId,
      {
        set: { next_check_at: retryAt + graceMs, dispatch_id: dispatchId },
        add: { attempts: -1 },
        remove: ['download_owner'],
      },
      guardCondition(claim),
    );
    return ok ? dispatchId : undefined;
  }

  /** A failed attempt that may be retried: the poller dispatches it again at `retryAt`. */
  retryDownload(jobId: string, claim: Guard, error: JobError, retryAt: number): Promise<boolean> {
    return this.write(
      jobId,
      { set: { next_check_at: retryAt, last_error: error }, remove: ['download_owner', 'dispatch_id'] },
      guardCondition(claim),
    );
  }

  /** The verified CSV is in S3: DOWNLOADING → EXPORTED, with its CRC-32 and header. */
  exported(
    jobId: string,
    claim: Guard,
    s3: S3Location,
    records: number,
    file: { crc32?: string; header?: string[]; parquet?: boolean } = {},
    flagExport = false,
  ): Promise<boolean> {
    return this.write(
      jobId,
      {
        set: {
          status: 'EXPORTED',
          s3,
          records,
          crc32: file.crc32,
          header: file.header,
          exported_at: this.iso(),
          ...this.finishedAt(),
          ...this.exportFlag(flagExport && 'page_exported'),
          // A page also written as Parquet waits for its conversion.
          ...(file.parquet ? { parquet_status: 'PENDING' } : {}),
        },
        remove: [...CLAIMS, 'last_error', 'consecutive_errors'],
      },
      guardCondition(claim),
    );
  }

  /**
   * Ends a job FAILED (the one way every function does it); `observed` adds what the caller learnt on
   * the way (the last Zoho state, say).
   */
  fail(
    jobId: string,
    guard: Guard,
    error: JobError,
    observed: Observed = {},
    flagExport = false,
  ): Promise<boolean> {
    return this.write(
      jobId,
      {
        set: {
          ...observed,
          status: 'FAILED',
          error,
          ...this.finishedAt(),
          ...this.exportFlag(flagExport && 'page_failed'),
        },
        remove: [...CLAIMS, 'last_error'],
      },
      guardCondition(guard),
    );
  }

  // ------------------------------------------------------------------ the Parquet conversion of a page

  /**
   * Claims an EXPORTED page's conversion (PENDING, or CONVERTING by a converter whose lease ran out)
   * and counts the attempt; the export is flagged until the conversion ends, so the sweep resumes it.
   */
  async claimConversion(jobId: string, leaseUntil: number): Promise<string | undefined> {
    const owner = randomUUID();
    const ok = await this.write(
      jobId,
      {
        set: {
          parquet_status: 'CONVERTING',
          parquet_owner: owner,
          parquet_until: leaseUntil,
          ...this.exportFlag('page_converting', leaseUntil),
        },
        add: { parquet_attempts: 1 },
      },
      and(
        eq('status', 'EXPORTED'),
        // A page its export dropped (lib/exports/recovery.ts) is not converted.
        missing('replaced_by'),
        or(
          eq('parquet_status', 'PENDING'),
          and(eq('parquet_status', 'CONVERTING'), lt('parquet_until', this.now())),
        ),
      ),
    );
    return ok ? owner : undefined;
  }

  /** The Parquet file is written and verified: CONVERTING → DONE. */
  converted(jobId: string, owner: string, parquet: ParquetFile): Promise<boolean> {
    return this.write(
      jobId,
      {
        set: { parquet_status: 'DONE', parquet, ...this.exportFlag('page_converted') },
        remove: ['parquet_owner', 'parquet_until', 'parquet_error'],
      },
      and(eq('parquet_status', 'CONVERTING'), eq('parquet_owner', owner)),
    );
  }

  /** A conversion attempt failed and may be tried again (by the message that comes back at its backoff). */
  conversionRetry(jobId: string, owner: string, error: JobError, retryAt: number): Promise<boolean> {
    return this.write(
      jobId,
      {
        set: {
          parquet_status: 'PENDING',
          parquet_error: error,
          ...this.exportFlag('page_converting', retryAt + EXPORT_FOLLOW_THROUGH_MS),
        },
        remove: ['parquet_owner', 'parquet_until'],
      },
      and(eq('parquet_status', 'CONVERTING'), eq('parquet_owner', owner)),
    );
  }

  /** The conversion failed for good: CONVERTING → FAILED (the raw CSV stays, exported). */
  conversionFailed(jobId: string, owner: string, error: JobError): Promise<boolean> {
    return this.write(
      jobId,
      {
        set: { parquet_status: 'FAILED', parquet_error: error, ...this.exportFlag('page_conversion_failed') },
        remove: ['parquet_owner', 'parquet_until'],
      },
      and(eq('parquet_status', 'CONVERTING'), eq('parquet_owner', owner)),
    );
  }

  /** Converts an EXPORTED page (again): PENDING, attempts from zero (`POST /exports/{id}/convert`). */
  requestConversion(jobId: string): Promise<boolean> {
    return this.write(
      jobId,
      {
        set: {
          parquet_wanted: true,
          parquet_status: 'PENDING',
          parquet_attempts: 0,
          ...this.exportFlag('page_exported'),
        },
        remove: ['parquet_error'],
      },
      and(eq('status', 'EXPORTED'), or(missing('parquet_status'), ne('parquet_status', 'CONVERTING'))),
    );
  }

  /** The sweep looks at the job again at `at` (its conversion is under way, or was dispatched again). */
  deferExportDue(jobId: string, at: number): Promise<boolean> {
    return this.write(jobId, { set: { export_due: at } }, exists('export_pending'));
  }

  /** The job's export has taken in its last transition. */
  exportHandled(jobId: string): Promise<boolean> {
    return this.write(jobId, { remove: [...EXPORT_FLAG] }, exists('export_pending'));
  }

  /**
   * The sweep failed on the job's reaction (its `failures`-th time in a row): it looks again at `at`,
   * so the job waits its backoff behind the others instead of being first in the index every tick.
   */
  exportFailed(jobId: string, failures: number, at: number): Promise<boolean> {
    return this.write(
      jobId,
      { set: { export_due: at, export_failures: failures } },
      exists('export_pending'),
    );
  }

  /** Jobs whose export has not taken in their last transition within the follow-through time, a page of them. */
  async exportDue(now: number, limit: number, startKey?: Record<string, unknown>): Promise<JobPage> {
    const page = await this.table.query({
      index: EXPORT_DUE_INDEX,
      partition: 'yes',
      sort: { op: 'le', value: now },
      limit,
      startKey,
    });
    return this.sweepPage(page);
  }

  /** Zoho said more_records but refused to create the next page: the job says so (its own state is unchanged). */
  followUpFailed(jobId: string, error: JobError): Promise<boolean> {
    return this.write(
      jobId,
      { set: { follow_up_error: error } },
      and(exists('job_id'), missing('next_job_id')),
    );
  }

  /**
   * Checks the PENDING job `job` (as read) at `at` instead of later (callbacks are degraded: its
   * fallback polling tightens). False if it changed meanwhile, a check holds it, or it is due sooner.
   */
  pullIn(job: JobRecord, at: number): Promise<boolean> {
    return this.write(
      job.job_id,
      { set: { next_check_at: at } },
      and(
        guardCondition({ kind: 'seen', status: 'PENDING', nextCheckAt: job.next_check_at }),
        missing('poll_token'),
        gt('next_check_at', at),
      ),
    );
  }

  /**
   * A callback says the PENDING job `job` (as read) finished: make it due, at most once per `gapMs`.
   * - `now`: due now (no check holds it and no callback made it due within `gapMs`): check it;
   * - `later`: a callback made it due less than `gapMs` ago: it is due at the end of that gap
   *   instead (if it was due later), so a replayed token costs at most one status call per gap and a
   *   real callback that comes within the gap still gets its check, at most `gapMs` late;
   * - `no`: not PENDING, a check holds it, or it changed meanwhile.
   */
  async makeDue(job: JobRecord, gapMs: number): Promise<'now' | 'later' | 'no'> {
    const now = this.now();
    const pending = and(exists('job_id'), eq('status', 'PENDING'), missing('poll_token'));
    if (
      await this.write(
        job.job_id,
        { set: { next_check_at: now, made_due_at: now } },
        and(pending, or(missing('made_due_at'), le('made_due_at', now - gapMs))),
      )
    )
      return 'now';
    if (job.made_due_at === undefined || job.made_due_at <= now - gapMs) return 'no';
    const at = job.made_due_at + gapMs;
    const later = await this.write(
      job.job_id,
      { set: { next_check_at: at } },
      and(pending, eq('made_due_at', job.made_due_at), gt('next_check_at', at)),
    );
    return later ? 'later' : 'no';
  }
}
