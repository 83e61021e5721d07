/**
 * The job model: states computed lazily from the clock (ADDED → QUEUED → IN PROGRESS → COMPLETED |
 * FAILURE), pages and page tokens, the job-details JSON, and the bytes of a job's file.
 *
 * Two kinds of jobs:
 *   seeded  registered with addJob / POST /__fake/jobs: `totalRecords` across all pages, values salted
 *           with the job id and page (as the fake always did);
 *   store   created over HTTP: a snapshot (change-log position) of the module's record store, filtered
 *           by the criteria, `perPage` matches per page in id order.
 */
import { randomBytes } from 'node:crypto';
import { compileCriteria, leafApiName, type Predicate } from './criteria.js';
import { csvRows, icsRows, planColumns, seededRecordId, seededRecords, seededSalt } from './csv.js';
import { fieldId, implicitTimes, moduleApiId, recordId } from './fields.js';
import type { RecordView } from './records.js';
import type { Runtime } from './state.js';
import type { JobInfo, JobSpec, JobState, SeededJob, Timeline } from './types.js';
import { isoWithOffset } from './vocab.js';

export const MAX_PAGE = 500;
export const ICS_PER_PAGE = 20000;

export type JobSource =
  | { kind: 'seeded'; totalRecords: number }
  | {
      kind: 'store';
      /** Change-log position of the module's store when the job was created. */
      seq: number;
      snapshotAt: number;
      /** Records matching the query in that snapshot (all pages). */
      matching: number;
    };

/** What a page token carries: the query, without the page. */
export interface StoredQuery {
  module: string;
  fields?: string[];
  criteria?: unknown;
  cvid?: string;
  fileType: 'csv' | 'ics';
  /** Seeded queries keep their size; store queries take a new snapshot for each page. */
  totalRecords?: number;
}

export interface PageToken {
  query: StoredQuery;
  nextPage: number;
  userId: string;
  issuedAt: number;
}

export interface Job {
  id: string;
  version: string;
  module: string;
  fields?: string[];
  criteria?: unknown;
  cvid?: string;
  page: number;
  perPage: number;
  source: JobSource;
  padding: number;
  zip64: boolean;
  failWith?: { code: string; message: string; details?: Record<string, unknown> };
  timeline: Timeline;
  processingMsPerRecord: number;
  createdAt: number;
  userId: string;
  userName: string;
  callbackUrl?: string;
  fileType: 'csv' | 'ics';
  lineEnding: '\n' | '\r\n';
  forced?: { state: JobState; at: number };
  nextPageToken?: string;
  callbackFired: boolean;
  resultExpired?: boolean;
}

export function nextJobId(rt: Runtime): string {
  for (;;) {
    const id = `36523970000${String(rt.idCounter++ % 100000000).padStart(8, '0')}`;
    if (!rt.jobs.has(id)) return id;
  }
}

function userFor(rt: Runtime, userId: string | undefined): { userId: string; userName: string } {
  const id = userId ?? rt.clients[0]?.userId ?? '3652397000000186017';
  return { userId: id, userName: rt.users.get(id) ?? 'Patricia Boyle' };
}

/** A seeded job (addJob). */
export function makeSeededJob(rt: Runtime, spec: JobSpec & { query?: StoredQuery }): Job {
  const q = spec.query;
  const module = q?.module ?? spec.module ?? 'Contacts';
  const fileType = q?.fileType ?? spec.fileType ?? 'csv';
  const job: Job = {
    id: spec.id ?? nextJobId(rt),
    version: spec.version ?? 'v8',
    module,
    fields: q ? q.fields : spec.fields,
    criteria: q?.criteria,
    cvid: q?.cvid,
    page: spec.page ?? 1,
    perPage: fileType === 'ics' ? Math.min(rt.opts.perPage, ICS_PER_PAGE) : rt.opts.perPage,
    source: { kind: 'seeded', totalRecords: q?.totalRecords ?? spec.totalRecords ?? 1000 },
    padding: spec.padding ?? 0,
    zip64: spec.zip64 ?? false,
    failWith: spec.failWith,
    timeline: spec.timeline ?? rt.opts.timeline,
    processingMsPerRecord: rt.opts.processingMsPerRecord,
    createdAt: spec.createdAt ?? rt.now(),
    ...userFor(rt, spec.userId),
    callbackUrl: spec.callbackUrl,
    fileType,
    lineEnding: spec.lineEnding ?? rt.opts.lineEnding,
    callbackFired: false,
  };
  register(rt, job);
  return job;
}

/** A job over the module's record store (created over HTTP). */
export function makeStoreJob(
  rt: Runtime,
  a: { version: string; page: number; userId: string; callbackUrl?: string; query: StoredQuery },
): Job {
  const { query } = a;
  const store = rt.stores.get(query.module);
  const state = store.state();
  const pred = compileCriteria(query.criteria, query.module);
  const fileType = query.fileType;
  const job: Job = {
    id: nextJobId(rt),
    version: a.version,
    module: query.module,
    fields: query.fields,
    criteria: query.criteria,
    cvid: query.cvid,
    page: a.page,
    perPage: fileType === 'ics' ? Math.min(rt.opts.perPage, ICS_PER_PAGE) : rt.opts.perPage,
    source: { kind: 'store', seq: state.seq, snapshotAt: rt.now(), matching: store.count(state, pred) },
    padding: rt.opts.padding,
    zip64: false,
    timeline: rt.opts.timeline,
    processingMsPerRecord: rt.opts.processingMsPerRecord,
    createdAt: rt.now(),
    ...userFor(rt, a.userId),
    callbackUrl: a.callbackUrl,
    fileType,
    lineEnding: rt.opts.lineEnding,
    callbackFired: false,
  };
  register(rt, job);
  return job;
}

/** Jobs not yet COMPLETED or FAILURE now (ADDED, QUEUED, IN PROGRESS). */
export function concurrentJobs(rt: Runtime): number {
  let n = 0;
  for (const job of rt.jobs.values()) {
    const s = stateOf(rt, job);
    if (s !== 'COMPLETED' && s !== 'FAILURE') n++;
  }
  return n;
}

function register(rt: Runtime, job: Job): void {
  rt.jobs.set(job.id, job);
  // The count only rises at a creation: its peak is seen here.
  rt.counters.peakConcurrentJobs = Math.max(rt.counters.peakConcurrentJobs, concurrentJobs(rt));
  if (job.callbackUrl) rt.pendingCallbacks.add(job.id);
  rt.changed('jobs');
  rt.onJobCreated(job.id);
}

export function storedQueryOf(job: Job): StoredQuery {
  const q: StoredQuery = { module: job.module, fileType: job.fileType };
  if (job.fields) q.fields = job.fields;
  if (job.criteria !== undefined) q.criteria = job.criteria;
  if (job.cvid !== undefined) q.cvid = job.cvid;
  if (job.source.kind === 'seeded') q.totalRecords = job.source.totalRecords;
  return q;
}

// ---------------------------------------------------------------- states and pages

function terminalState(job: Job): JobState {
  return job.failWith ? 'FAILURE' : 'COMPLETED';
}

export function pageCount(job: Job): { count: number; more: boolean } {
  const total = job.source.kind === 'seeded' ? job.source.totalRecords : job.source.matching;
  const start = (job.page - 1) * job.perPage;
  const count = Math.max(0, Math.min(job.perPage, total - start));
  return { count, more: total > job.page * job.perPage };
}

/** Time from creation to the terminal state: the timeline plus the per-record processing time. */
function completeAfterMs(job: Job): number {
  return job.timeline.completedAfterMs + job.processingMsPerRecord * pageCount(job).count;
}

export function stateOf(rt: Runtime, job: Job): JobState {
  if (job.forced) return job.forced.state;
  const t = rt.now() - job.createdAt;
  const tl = job.timeline;
  if (t >= completeAfterMs(job)) return terminalState(job);
  if (t >= tl.inProgressAfterMs) return 'IN PROGRESS';
  if (t >= tl.queuedAfterMs) return 'QUEUED';
  return 'ADDED';
}

export function completedAt(job: Job): number {
  if (job.forced) return job.forced.at;
  return job.createdAt + completeAfterMs(job);
}

export function setState(rt: Runtime, job: Job, state: JobState): void {
  if (state === 'FAILURE' && !job.failWith) {
    job.failWith = { code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error occurred.' };
  }
  if (state === 'COMPLETED') job.failWith = undefined;
  job.forced = { state, at: rt.now() };
  rt.changed('jobs');
}

export function pageTokenFor(rt: Runtime, job: Job): string {
  if (!job.nextPageToken) {
    const token = randomBytes(18).toString('hex');
    rt.pageTokens.set(token, {
      query: storedQueryOf(job),
      nextPage: job.page + 1,
      userId: job.userId,
      issuedAt: rt.now(),
    });
    job.nextPageToken = token;
    rt.changed('jobs');
  }
  return job.nextPageToken;
}

function criteriaEcho(c: unknown, version: string, module: string): unknown {
  if (!c || typeof c !== 'object') return c;
  const o = c as Record<string, unknown>;
  if (Array.isArray(o.group)) {
    return {
      group_operator: String(o.group_operator).toLowerCase(),
      group: o.group.map((g) => criteriaEcho(g, version, module)),
    };
  }
  const apiName = leafApiName(o);
  if (version === 'v2') return { api_name: apiName, comparator: o.comparator, value: o.value };
  return {
    field: { api_name: apiName, id: fieldId(module, String(apiName)) },
    comparator: o.comparator,
    value: o.value,
  };
}

/** The job details as GET /read/{id} answers them (and as the callback posts them). */
export function jobDetail(rt: Runtime, job: Job): Record<string, unknown> {
  const state = stateOf(rt, job);
  const query: Record<string, unknown> = {
    module: job.version === 'v2' ? job.module : { api_name: job.module, id: moduleApiId(job.module) },
    page: job.page,
  };
  if (job.fields && job.fields.length > 0) query.fields = job.fields;
  if (job.cvid) query.cvid = job.cvid;
  if (job.criteria) query.criteria = criteriaEcho(job.criteria, job.version, job.module);
  const detail: Record<string, unknown> = {
    id: job.id,
    operation: 'read',
    state,
    query,
    created_by: { id: job.userId, name: job.userName },
    created_time: isoWithOffset(job.createdAt),
    file_type: job.fileType,
  };
  if (state === 'FAILURE') {
    const f = job.failWith ?? { code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error occurred.' };
    detail.result = {
      error_message: { status: 'error', code: f.code, message: f.message, details: f.details ?? {} },
    };
  } else if (state === 'COMPLETED' || rt.opts.resultInEveryState) {
    const { count, more } = pageCount(job);
    const result: Record<string, unknown> = {
      page: job.page,
      per_page: job.perPage,
      count: state === 'COMPLETED' ? count : 0,
      download_url: `/crm/bulk/${job.version}/read/${job.id}/result`,
      more_records: more,
    };
    if (more && (job.version === 'v7' || job.version === 'v8'))
      result.next_page_token = pageTokenFor(rt, job);
    detail.result = result;
  }
  return detail;
}

export function jobInfo(rt: Runtime, job: Job): JobInfo {
  const { count, more } = pageCount(job);
  const info: JobInfo = {
    id: job.id,
    state: stateOf(rt, job),
    module: job.module,
    version: job.version,
    page: job.page,
    perPage: job.perPage,
    count,
    moreRecords: more,
    createdAt: job.createdAt,
    completedAt: completedAt(job),
    source: job.source.kind,
    fileType: job.fileType,
    resultExpired: job.resultExpired === true,
  };
  if (job.source.kind === 'store') info.snapshot = { seq: job.source.seq, at: job.source.snapshotAt };
  if (job.fields) info.fields = job.fields;
  if (job.callbackUrl) info.callbackUrl = job.callbackUrl;
  return info;
}

export function seededView(rt: Runtime, job: Job): SeededJob {
  return {
    id: job.id,
    module: job.module,
    version: job.version,
    totalRecords: job.source.kind === 'seeded' ? job.source.totalRecords : undefined,
    page: job.page,
    padding: job.padding,
    zip64: job.zip64,
    timeline: job.timeline,
    createdAt: job.createdAt,
    userId: job.userId,
    fileType: job.fileType,
    completedAt: completedAt(job),
    ...(job.fields ? { fields: job.fields } : {}),
    ...(job.failWith ? { failWith: job.failWith } : {}),
    ...(job.callbackUrl ? { callbackUrl: job.callbackUrl } : {}),
    ...(job.lineEnding !== rt.opts.lineEnding ? { lineEnding: job.lineEnding } : {}),
  };
}

// ---------------------------------------------------------------- the file

const predicates = new WeakMap<Job, Predicate | undefined>();

function predicateOf(job: Job): Predicate | undefined {
  if (!predicates.has(job)) predicates.set(job, compileCriteria(job.criteria, job.module));
  return predicates.get(job);
}

/** Records of the job's page, the salt of their values, and a record one past the last (for the
 * csv-extra-record fault). */
function recordsOf(
  rt: Runtime,
  job: Job,
): { salt: number; records: Iterable<RecordView>; extra: RecordView } {
  const { count } = pageCount(job);
  if (job.source.kind === 'seeded') {
    const salt = seededSalt(job.id, job.page);
    const first = (job.page - 1) * job.perPage;
    const n = first + count;
    return {
      salt,
      records: seededRecords(salt, first, count),
      extra: { n, id: seededRecordId(n), version: 0, ...implicitTimes(salt, n) },
    };
  }
  const store = rt.stores.get(job.module);
  const s = store.state(job.source.seq);
  const n = s.slots;
  return {
    salt: store.salt,
    records: store.select(s, predicateOf(job), (job.page - 1) * job.perPage, count),
    extra: { n, id: recordId(job.module, n), version: 0, ...implicitTimes(store.salt, n) },
  };
}

function* withExtra(records: Iterable<RecordView>, extra: RecordView): Generator<RecordView> {
  yield* records;
  yield extra;
}

/** The exact bytes of the job's CSV (or ICS) file. */
export function* fileChunks(rt: Runtime, job: Job, extraRecord = false): Generator<Buffer> {
  const { salt, records, extra } = recordsOf(rt, job);
  const recs = extraRecord ? withExtra(records, extra) : records;
  if (job.fileType === 'ics') {
    yield* icsRows(salt, recs);
    return;
  }
  const planned = planColumns(job.module, job.fields, false);
  if ('unknown' in planned) throw new Error(`unknown field ${planned.unknown}`);
  yield* csvRows(
    {
      module: job.module,
      ...planned,
      salt,
      padding: job.padding,
      lineEnding: job.lineEnding,
      chunkSize: 256 * 1024,
    },
    recs,
  );
}

export async function* fileStream(rt: Runtime, job: Job, extraRecord = false): AsyncGenerator<Buffer> {
  yield* fileChunks(rt, job, extraRecord);
}
