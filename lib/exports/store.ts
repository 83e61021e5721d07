// Over 450 lines on purpose: the whole export state machine, every transition and its guard in one file (the one place its conditions are written).
/**
 * The export state machine, like the job one: every change is a named operation whose condition is
 * written here and nowhere else.
 *
 *   create ──▶ RUNNING ──wantPage──▶ (intent: wanted) ──claimIntent──▶ (intent: creating)
 *                 │                        ▲  retryIntent                    │ recordPage / adoptPage
 *                 │                        └─────────────────────────────────┘ (page_jobs grows)
 *                 ├──claimFinalize──▶ (finalizing) ──complete──▶ COMPLETED (manifest written in between)
 *                 └──fail──────▶ FAILED (a page failed)         eventPublished: the event went out
 *
 * A follow-up page is recorded as an *intent* before Zoho is asked to create it, so a poller that dies
 * between Zoho's answer and the record leaves a trace: the intent, still "creating". The callback of
 * the job Zoho created carries a token for that export and page, so it can be adopted; without a
 * callback, the intent is taken over (and the page created again) once `adoptWindowMs` has passed.
 * Page 1 of an export whose first create got no answer starts as such an intent
 * (`createAwaitingFirstPage`); with no callback to adopt it, the export is written FAILED at once
 * (`createFailed`).
 */
import { randomUUID } from 'node:crypto';
import { newCallbackBinding } from '../callbacks/token.js';
import { decodeCursor, encodeCursor, readKeyShape } from '../ddb/cursor.js';
import { and, type Cond, eq, exists, le, lt, missing, or } from '../ddb/expr.js';
import { type CorruptRecordError, getRecord, parseAllRecords, parseRecords } from '../ddb/record.js';
import { keyOf, type Table, type TransactOp } from '../ddb/table.js';
import type { JobError, JobRecord } from '../jobs/model.js';
import type { JobStore } from '../jobs/store.js';
import { EXPORT_INDEXES, TABLES } from '../tables.js';
import { type ExportRecord, type ExportStatus, exportRecordSchema, type ManifestLocation } from './model.js';

const INTENT = [
  'intent_page',
  'intent_state',
  'intent_since',
  'intent_tried_at',
  'intent_until',
  'intent_attempts',
  'intent_parent',
  'intent_page_token',
  'intent_owner',
  'intent_error',
  'intent_nonce',
] as const;

/** The export's place in the sweep's index, and how often in a row the sweep failed on it. */
const ATTENTION = ['attention', 'attention_at', 'attention_failures'] as const;

/** The key each listing pages with, so a cursor of another shape is refused (400 INVALID_CURSOR). */
const LIST_KEYS = {
  byModule: readKeyShape(TABLES.exports, EXPORT_INDEXES.byModule),
  byStatus: readKeyShape(TABLES.exports, EXPORT_INDEXES.byStatus),
  all: readKeyShape(TABLES.exports, EXPORT_INDEXES.all),
};

/**
 * How long after a reopen the sweep steps in if the requests of the pages' conversions did not all go
 * out (the request died midway): ample for a request that is still running.
 */
export const REOPEN_GRACE_MS = 2 * 60_000;

/** The event claim (claimEvent). */
const EVENT_CLAIM = ['event_owner', 'event_until'];

/** The finalize claim (claimFinalize). */
const FINALIZE = ['finalize_owner', 'finalize_until'] as const;

/**
 * The export's pages are as `recoveries` (of the record read) left them: every write that rests on the
 * page list it read (a page recorded, the next page wanted, COMPLETED) loses to a recovery that
 * replaced or dropped a page meanwhile (lib/exports/recovery.ts).
 */
const sameRecoveries = (recoveries: number | undefined): Cond =>
  recoveries ? eq('recoveries', recoveries) : missing('recoveries');

/** The claim on a follow-up intent. */
export interface IntentClaim {
  exportId: string;
  page: number;
  owner: string;
  /** This attempt's nonce (in its callback token; stored as `intent_nonce`). */
  nonce: string;
}

export class ExportStore {
  constructor(
    readonly table: Table,
    private readonly jobs: JobStore,
    private readonly now: () => number = Date.now,
    private readonly retentionSeconds = 90 * 86_400,
  ) {}

  private iso(ms = this.now()): string {
    return new Date(ms).toISOString();
  }

  private key(exportId: string): { export_id: string } {
    return { export_id: exportId };
  }

  private async write(
    exportId: string,
    update: Parameters<Table['update']>[1],
    condition: Parameters<Table['update']>[2],
  ): Promise<boolean> {
    const set = { ...update.set, updated_at: this.iso() };
    return (await this.table.update(this.key(exportId), { ...update, set }, condition)) !== false;
  }

  // ------------------------------------------------------------------ reads

  async get(exportId: string): Promise<ExportRecord | undefined> {
    return getRecord(this.table, exportRecordSchema, this.key(exportId));
  }

  /** Newest first, through an index: by module (and status), by status, or all. */
  async list(opts: {
    module?: string;
    status?: ExportStatus;
    limit: number;
    cursor?: string;
  }): Promise<{ exports: ExportRecord[]; next: string | null }> {
    const index = opts.module ? 'byModule' : opts.status ? 'byStatus' : 'all';
    const startKey = opts.cursor ? decodeCursor(opts.cursor, LIST_KEYS[index]) : undefined;
    const page = opts.module
      ? await this.table.query({
          index: EXPORT_INDEXES.byModule,
          partition: opts.module,
          limit: opts.limit,
          startKey,
          descending: true,
          ...(opts.status ? { filter: eq('status', opts.status) } : {}),
        })
      : await this.table.query({
          index: opts.status ? EXPORT_INDEXES.byStatus : EXPORT_INDEXES.all,
          partition: opts.status ?? 'export',
          limit: opts.limit,
          startKey,
          descending: true,
        });
    // The API shows every export it lists: one that does not parse fails the listing (500), never hidden.
    const exports = parseAllRecords(exportRecordSchema, page.items, this.table.name, (i) =>
      keyOf(this.table.definition, i),
    );
    return { exports, next: encodeCursor(page.lastKey) };
  }

  /**
   * The `next` cursor of a listing (same `module` and `status`) that stops after `e`, as if the query
   * had ended there: `GET /exports` stops early when its pages' reads would run over their bound.
   */
  listCursorAfter(e: ExportRecord, opts: { module?: string; status?: ExportStatus }): string | null {
    const index = opts.module ? 'byModule' : opts.status ? 'byStatus' : 'all';
    return encodeCursor(
      Object.fromEntries(Object.keys(LIST_KEYS[index]).map((k): [string, unknown] => [k, Reflect.get(e, k)])),
    );
  }

  /** Exports the poller's sweep must look at now (a page to create or retry, an event to publish), a page of them. */
  async needingAttention(
    now: number,
    limit: number,
    startKey?: Record<string, unknown>,
  ): Promise<{
    exports: ExportRecord[];
    corrupt: CorruptRecordError[];
    lastKey: Record<string, unknown> | undefined;
  }> {
    const page = await this.table.query({
      index: EXPORT_INDEXES.attention,
      partition: 'yes',
      sort: { op: 'le', value: now },
      limit,
      startKey,
    });
    // A sweep's page: the caller logs each item that does not parse and goes on with the rest.
    const { records, corrupt } = parseRecords(exportRecordSchema, page.items, this.table.name, (i) =>
      keyOf(this.table.definition, i),
    );
    return { exports: records, corrupt, lastKey: page.lastKey };
  }

  // ------------------------------------------------------------------ transitions

  /** A new RUNNING export record (not written). */
  newExport(
    init: Pick<ExportRecord, 'export_id' | 'source' | 'query' | 'api_version' | 'formats'> & {
      module: string | null;
      mode?: ExportRecord['mode'];
      since?: string | undefined;
    },
  ): ExportRecord {
    const now = this.now();
    const { module, mode, since, ...rest } = init;
    return {
      ...rest,
      mode: mode ?? 'full',
      ...(since ? { since } : {}),
      ...(module ? { module } : {}),
      kind: 'export',
      status: 'RUNNING',
      created_at: this.iso(now),
      updated_at: this.iso(now),
      completed_at: null,
      export_date: this.iso(now).slice(0, 10),
      page_jobs: [],
      manifest: null,
      error: null,
    };
  }

  /**
   * Writes a new export with its first page's job, atomically (plus `extra`, e.g. the idempotency
   * key's "done"); false if the export or the job already exists.
   */
  create(record: ExportRecord, firstJob: JobRecord, extra: TransactOp[] = []): Promise<boolean> {
    const item = { ...record, page_jobs: [firstJob.job_id], pages_created: 1 };
    return this.table.transact([
      {
        type: 'put',
        table: this.table,
        item,
        condition: missing('export_id'),
      },
      this.jobs.registerOp(firstJob),
      ...extra,
    ]);
  }

  /**
   * The write of a new export whose page 1 is wanted, due now (a snapshot's module: lib/snapshots/start.ts;
   * an export whose first create met a full job-slot cap: lib/exports/start.ts):
   * RUNNING with no page, page 1 an intent that `createWantedPage` (the API now, or the poller's sweep)
   * creates at Zoho, exactly as it creates a follow-up page. Fails if the export exists.
   */
  queuedOp(record: ExportRecord, error?: JobError): TransactOp {
    const now = this.now();
    const item = {
      ...record,
      // Why page 1 waits, when it already asked (POST /exports met a full job-slot cap: lib/exports/start.ts).
      ...(error ? { intent_error: error } : {}),
      page_jobs: [],
      pages_created: 0,
      intent_page: 1,
      intent_state: 'wanted',
      intent_since: now,
      intent_until: now,
      intent_attempts: 0,
      attention: 'yes',
      attention_at: now,
    };
    return { type: 'put', table: this.table, item, condition: missing('export_id') };
  }

  /**
   * Writes a new export whose page 1 Zoho may have created (the create's answer was lost: a timeout, a
   * broken connection): RUNNING with no page yet and page 1 as an intent left "creating" by an attempt
   * that is over, exactly as `uncertainIntent` leaves a follow-up page. The job's callback adopts it
   * (adoptPage); the sweep looks again at `lookAt` (the adoption window's end) and only then asks Zoho
   * again. Atomically with `extra` (the idempotency key's "done"); false if the export exists.
   */
  createAwaitingFirstPage(
    record: ExportRecord,
    error: JobError,
    lookAt: number,
    extra: TransactOp[] = [],
    /** The nonce of page 1's callback token, so Zoho's callback can adopt the job (tryAdoptPageJob). */
    nonce?: string,
  ): Promise<boolean> {
    const now = this.now();
    const item = {
      ...record,
      ...(nonce !== undefined ? { intent_nonce: nonce } : {}),
      page_jobs: [],
      pages_created: 0,
      intent_page: 1,
      intent_state: 'creating',
      intent_since: now,
      intent_tried_at: now,
      intent_until: now,
      intent_attempts: 1,
      intent_error: error,
      attention: 'yes',
      attention_at: lookAt,
    };
    return this.table.transact([
      { type: 'put', table: this.table, item, condition: missing('export_id') },
      ...extra,
    ]);
  }

  /** What FAILED sets: the end, the error, its event due and the sweep to publish it, the retention. */
  private failedAt(now: number, error: NonNullable<ExportRecord['error']>) {
    return {
      status: 'FAILED' as const,
      completed_at: this.iso(now),
      error,
      event_pending: 'yes',
      attention: 'yes',
      attention_at: now,
      expires_at: Math.floor(now / 1000) + this.retentionSeconds,
    };
  }

  /**
   * Writes a new export that ended before its first page was known (FAILED with `error`; nothing can
   * find the job Zoho may have made), atomically with `extra`; its event is due, as `fail` leaves it.
   */
  createFailed(
    record: ExportRecord,
    error: NonNullable<ExportRecord['error']>,
    extra: TransactOp[] = [],
  ): Promise<boolean> {
    const now = this.now();
    const item = {
      ...record,
      page_jobs: [],
      pages_created: 0,
      ...this.failedAt(now, error),
    };
    return this.table.transact([
      { type: 'put', table: this.table, item, condition: missing('export_id') },
      ...extra,
    ]);
  }

  /** What Zoho's first status says of a registered job's query: its module, fields, criteria (set once). */
  learn(exportId: string, module: string, query: ExportRecord['query']): Promise<boolean> {
    return this.write(
      exportId,
      { set: { module, query } },
      and(exists('export_id'), eq('source', 'job'), missing('module')),
    );
  }

  /**
   * Records that page `page` is wanted (its parent, page - 1, is COMPLETED with more records), due now.
   * Only when exactly `page - 1` pages exist and no other page is wanted: calling it twice is harmless.
   */
  wantPage(
    exportId: string,
    page: number,
    parentJobId: string,
    pageToken?: string,
    recoveries?: number,
  ): Promise<boolean> {
    const now = this.now();
    return this.write(
      exportId,
      {
        set: {
          intent_page: page,
          intent_state: 'wanted',
          intent_since: now,
          intent_until: now,
          intent_attempts: 0,
          intent_parent: parentJobId,
          intent_page_token: pageToken,
          attention: 'yes',
          attention_at: now,
        },
      },
      and(
        eq('status', 'RUNNING'),
        eq('pages_created', page - 1),
        missing('intent_page'),
        sameRecoveries(recoveries),
      ),
    );
  }

  /**
   * Takes the intent for one creation attempt, for `leaseMs`. A "wanted" intent is taken when due; a
   * "creating" one only when its lease has run out and `takeOver` is set (the caller decided the
   * attempt that holds it died and cannot be adopted any more).
   */
  async claimIntent(e: ExportRecord, leaseMs: number, takeOver = false): Promise<IntentClaim | undefined> {
    if (e.intent_page === undefined) return undefined;
    const now = this.now();
    const owner = randomUUID();
    // Each attempt its own nonce: a token of an earlier attempt cannot adopt this one's job.
    const nonce = newCallbackBinding(0, now).nonce;
    const ok = await this.write(
      e.export_id,
      {
        // If this attempt dies, the sweep looks again when its lease is over.
        set: {
          intent_state: 'creating',
          intent_tried_at: now,
          intent_until: now + leaseMs,
          intent_owner: owner,
          intent_nonce: nonce,
          attention_at: now + leaseMs,
        },
        add: { intent_attempts: 1 },
      },
      and(
        eq('status', 'RUNNING'),
        eq('intent_page', e.intent_page),
        takeOver
          ? and(eq('intent_state', 'creating'), lt('intent_until', now))
          : and(eq('intent_state', 'wanted'), le('intent_until', now)),
      ),
    );
    return ok ? { exportId: e.export_id, page: e.intent_page, owner, nonce } : undefined;
  }

  /**
   * A creation attempt whose outcome is unknown (a timeout or a broken connection: Zoho may have made
   * the job): the intent stays "creating", this attempt's lease ends, and the sweep looks again at
   * `lookAt` (the end of the window in which the job's callback can still adopt it).
   */
  uncertainIntent(claim: IntentClaim, error: JobError, lookAt: number): Promise<boolean> {
    return this.write(
      claim.exportId,
      {
        set: { intent_until: this.now(), intent_error: error, attention_at: lookAt },
        remove: ['intent_owner'],
      },
      and(eq('intent_page', claim.page), eq('intent_owner', claim.owner)),
    );
  }

  /** A creation attempt that failed and may be retried at `retryAt`. */
  retryIntent(claim: IntentClaim, error: JobError, retryAt: number): Promise<boolean> {
    return this.write(
      claim.exportId,
      {
        set: { intent_state: 'wanted', intent_until: retryAt, intent_error: error, attention_at: retryAt },
        remove: ['intent_owner'],
      },
      and(eq('intent_page', claim.page), eq('intent_owner', claim.owner)),
    );
  }

  private pageOps(
    e: ExportRecord,
    page: number,
    child: JobRecord,
    condition: ReturnType<typeof and>,
  ): TransactOp[] {
    const pageJobs = [...e.page_jobs, child.job_id];
    const ops: TransactOp[] = [
      {
        type: 'update',
        table: this.table,
        key: this.key(e.export_id),
        update: {
          set: { page_jobs: pageJobs, pages_created: page, updated_at: this.iso() },
          remove: [...INTENT, ...ATTENTION],
        },
        condition: and(eq('pages_created', page - 1), sameRecoveries(e.recoveries), condition),
      },
      this.jobs.registerOp(child),
    ];
    const parent = e.page_jobs[page - 2];
    if (parent) ops.push(this.jobs.linkNextOp(parent, child.job_id));
    return ops;
  }

  /** The page's Zoho job exists: record it (and link the parent to it) and clear the intent, atomically. */
  async recordPage(e: ExportRecord, claim: IntentClaim, child: JobRecord): Promise<boolean> {
    const held = and(eq('intent_page', claim.page), eq('intent_owner', claim.owner));
    if (await this.table.transact(this.pageOps(e, claim.page, child, held))) return true;
    // A recovery replaced another page meanwhile (the intent is still ours): record it on the new list.
    const fresh = await this.get(e.export_id);
    if (
      !fresh ||
      fresh.recoveries === e.recoveries ||
      fresh.intent_owner !== claim.owner ||
      fresh.pages_created !== claim.page - 1
    )
      return false;
    return this.table.transact(this.pageOps(fresh, claim.page, child, held));
  }

  /**
   * A callback named a Zoho job for a page whose creation was never recorded (the creator died after
   * Zoho answered): record that job as the page. With `nonce`, only while the intent is still that
   * attempt's (a takeover draws a new one).
   */
  adoptPage(e: ExportRecord, page: number, child: JobRecord, nonce?: string): Promise<boolean> {
    const cond =
      nonce === undefined ? eq('intent_page', page) : and(eq('intent_page', page), eq('intent_nonce', nonce));
    return this.table.transact(this.pageOps(e, page, child, cond));
  }

  /**
   * Claims the finalization of an export whose pages are all in (lib/exports/finalize.ts), for
   * `leaseMs`: only the holder writes the manifest and completes the export, so concurrent finalizers
   * never both write it. Taken over only when the holder's lease has run out (it died). Undefined when
   * the export changed or another finalizer holds it.
   */
  async claimFinalize(e: ExportRecord, leaseMs: number): Promise<string | undefined> {
    const now = this.now();
    const owner = randomUUID();
    const ok = await this.write(
      e.export_id,
      { set: { finalize_owner: owner, finalize_until: now + leaseMs } },
      and(
        eq('status', 'RUNNING'),
        eq('pages_created', e.page_jobs.length),
        missing('intent_page'),
        sameRecoveries(e.recoveries),
        or(missing('finalize_owner'), lt('finalize_until', now)),
      ),
    );
    return ok ? owner : undefined;
  }

  /**
   * The holder of the finalize claim wrote the manifest: RUNNING → COMPLETED at `completedAt` (the
   * manifest's own), the claim released; the event is due.
   */
  complete(
    e: ExportRecord,
    manifest: ManifestLocation,
    completedAt: string,
    owner: string,
  ): Promise<boolean> {
    const now = this.now();
    return this.write(
      e.export_id,
      {
        set: {
          status: 'COMPLETED',
          completed_at: completedAt,
          manifest,
          event_pending: 'yes',
          attention: 'yes',
          attention_at: now,
          expires_at: Math.floor(now / 1000) + this.retentionSeconds,
        },
        remove: [...FINALIZE, 'reconvert_pending'],
      },
      and(
        eq('status', 'RUNNING'),
        eq('pages_created', e.page_jobs.length),
        missing('intent_page'),
        sameRecoveries(e.recoveries),
        eq('finalize_owner', owner),
      ),
    );
  }

  /** The holder of the finalize claim gives it up without completing (its export is not ready after all). */
  releaseFinalize(exportId: string, owner: string): Promise<boolean> {
    return this.write(exportId, { remove: [...FINALIZE] }, eq('finalize_owner', owner));
  }

  /**
   * Records a recovery (lib/exports/recovery.ts), atomically: page `page`'s job is now `job` (a new
   * Zoho job for it); with `dropLater`, the pages after it are dropped and any follow-up intent is
   * cleared (they come again from the new page); the page's failed job, if any, is marked replaced.
   * Only if the export's pages are still as read (and, with `claim`, the follow-up intent is still
   * held by it). The pages dropped are marked by the caller.
   */
  recover(
    e: ExportRecord,
    r: { page: number; job: JobRecord; dropLater: boolean; failedJobId?: string; claim?: IntentClaim },
  ): Promise<boolean> {
    const now = this.now();
    const pageJobs = r.dropLater ? e.page_jobs.slice(0, r.page - 1) : [...e.page_jobs];
    pageJobs[r.page - 1] = r.job.job_id;
    const conds: Cond[] = [
      eq('status', 'RUNNING'),
      eq('pages_created', e.page_jobs.length),
      sameRecoveries(e.recoveries),
    ];
    if (r.claim) conds.push(eq('intent_page', r.claim.page), eq('intent_owner', r.claim.owner));
    const ops: TransactOp[] = [
      {
        type: 'update',
        table: this.table,
        key: this.key(e.export_id),
        update: {
          set: {
            page_jobs: pageJobs,
            pages_created: pageJobs.length,
            recovered_at: now,
            updated_at: this.iso(now),
          },
          add: { recoveries: 1 },
          ...(r.dropLater ? { remove: [...INTENT, ...ATTENTION] } : {}),
        },
        condition: and(...conds),
      },
      this.jobs.registerOp(r.job),
    ];
    if (r.failedJobId) ops.push(this.jobs.replacedOp(r.failedJobId, r.job.job_id));
    return this.table.transact(ops);
  }

  /** A page failed (or could not be created): RUNNING → FAILED with its error; the event is due. */
  fail(exportId: string, error: NonNullable<ExportRecord['error']>): Promise<boolean> {
    const now = this.now();
    return this.write(
      exportId,
      {
        set: this.failedAt(now, error),
        remove: [...INTENT, ...FINALIZE, 'reconvert_pending'],
      },
      eq('status', 'RUNNING'),
    );
  }

  /**
   * Opens a COMPLETED or FAILED export again to convert its pages (again): RUNNING, written as
   * `formats`, its error cleared. Its manifest stays until the new one replaces it. It is marked
   * `reconvert_pending` and needs the sweep's attention after `graceMs`, unless the request of every
   * page's conversion clears the mark first (`reconversionRequested`): a request that dies midway is
   * finished by the sweep, so the export is never left RUNNING with pages nobody converts.
   */
  reopen(exportId: string, formats: ExportRecord['formats'], graceMs = REOPEN_GRACE_MS): Promise<boolean> {
    return this.write(
      exportId,
      {
        set: {
          status: 'RUNNING',
          formats,
          error: null,
          completed_at: null,
          reopened_at: this.iso(),
          reconvert_pending: 'yes',
          attention: 'yes',
          attention_at: this.now() + graceMs,
        },
        remove: ['expires_at', ...FINALIZE],
      },
      or(eq('status', 'COMPLETED'), eq('status', 'FAILED')),
    );
  }

  /**
   * Every page's conversion of a reopened export is requested: the mark goes, and so does the
   * attention unless something else still needs it (an event to publish).
   */
  async reconversionRequested(exportId: string): Promise<boolean> {
    if (
      await this.write(
        exportId,
        { remove: ['reconvert_pending', ...ATTENTION] },
        and(exists('reconvert_pending'), missing('event_pending'), missing('intent_page')),
      )
    )
      return true;
    return this.write(exportId, { remove: ['reconvert_pending'] }, exists('reconvert_pending'));
  }

  /**
   * Takes the export's pending event for `leaseMs`, so that of two publishers at once (the finalizer
   * and the sweep) one sends it; a publisher that dies holding it is replaced when the lease ends (the
   * event is still at least once, but no longer twice in a row). The claim's owner, or undefined.
   */
  async claimEvent(exportId: string, leaseMs: number): Promise<string | undefined> {
    const now = this.now();
    const owner = randomUUID();
    const ok = await this.write(
      exportId,
      { set: { event_owner: owner, event_until: now + leaseMs } },
      and(exists('event_pending'), or(missing('event_until'), lt('event_until', now))),
    );
    return ok ? owner : undefined;
  }

  /** The event could not be sent: the claim is given back at once, for the sweep's next try. */
  releaseEvent(exportId: string, owner: string): Promise<boolean> {
    return this.write(exportId, { remove: EVENT_CLAIM }, eq('event_owner', owner));
  }

  /** The completion event went out. */
  eventPublished(exportId: string): Promise<boolean> {
    return this.write(
      exportId,
      { remove: ['event_pending', ...EVENT_CLAIM, ...ATTENTION] },
      exists('event_pending'),
    );
  }

  /**
   * The sweep failed on the export (its `failures`-th time in a row): it looks again at `at`, so the
   * export waits its backoff behind the others instead of being first in the index every tick.
   */
  attentionFailed(exportId: string, failures: number, at: number): Promise<boolean> {
    return this.write(
      exportId,
      { set: { attention_at: at, attention_failures: failures } },
      exists('attention'),
    );
  }

  /** Nothing to do for the export before `at` (an intent waiting for its callback). */
  deferAttention(exportId: string, at: number): Promise<boolean> {
    return this.write(exportId, { set: { attention_at: at } }, exists('attention'));
  }
}
