/**
 * The pages of an export: a page COMPLETED at Zoho with more records wants the next one
 * (`pageCompleted`), which is recorded as an intent before Zoho is asked to create it
 * (`createWantedPage`, retried by the sweep), or adopted from its callback when its creator died after
 * Zoho answered (`adoptPageJob`). A registered job's first status names its export's module
 * (`pageObserved`).
 */

import { TOKEN_MARGIN_MS } from '../callbacks/token.js';
import type { JobRecord } from '../jobs/model.js';
import { afterCreateError } from '../jobs/retry.js';
import { describeError } from '../observability.js';
import type { CreateJobQuery } from '../zoho/client.js';
import { type ApiVersion, usesPageToken } from '../zoho/data-centers.js';
import { ZohoError } from '../zoho/errors.js';
import type { ZohoJob } from '../zoho/schemas.js';
import { asVersion, type ExportDeps, exportPageJob } from './deps.js';
import { failExport } from './end.js';
import type { ExportRecord, StoredQuery } from './model.js';
import { isPageTokenRefusal, recoverFollowUp } from './recovery.js';

/** How long one attempt to create a follow-up page holds its intent. */
export const INTENT_LEASE_MS = 2 * 60_000;
/**
 * How long an intent whose creator died waits for the callback of the job Zoho may have created
 * before it is taken over (and the page created again). Without callbacks it is taken over as soon
 * as its lease runs out.
 */
export const ADOPT_WINDOW_MS = 60 * 60_000;

/**
 * A page's job is COMPLETED at Zoho and on its way to S3 (`job` as just recorded): if Zoho has more
 * records, record the next page as wanted and create it now (a failure leaves the intent for the
 * sweep to retry). True when a page was created.
 */
export async function pageCompleted(deps: ExportDeps, job: JobRecord): Promise<boolean> {
  if (!job.more_records || !job.export_id) return false;
  const e = await deps.exports.get(job.export_id);
  const at = e?.page_jobs.indexOf(job.job_id) ?? -1;
  if (!e || at < 0) return false;
  // The next page exists already (this is the page's download making sure of it: lib/exports/hooks.ts).
  if (e.page_jobs.length > at + 1) return false;
  const version = asVersion(job.api_version) ?? asVersion(e.api_version) ?? 'v8';
  const token = usesPageToken(version) ? job.next_page_token : undefined;
  await deps.exports.wantPage(e.export_id, at + 2, job.job_id, token, e.recoveries);
  return createWantedPage(deps, e.export_id);
}

/**
 * Zoho's refusal of the module itself (MODULE_NOT_SUPPORTED, INVALID_MODULE) is remembered for module
 * discovery (`GET /modules`, lib/modules/store.ts) on every create path (`POST /exports`, a snapshot's
 * or the sweep's wanted pages); losing it only loses that hint, so a failed write is logged, never the
 * caller's answer.
 */
export async function rememberRefusal(deps: ExportDeps, module: string, e: unknown): Promise<void> {
  if (!deps.modules || !(e instanceof ZohoError) || e.kind !== 'terminal') return;
  try {
    await deps.modules.recordRefusal(module, e.code);
  } catch (w) {
    deps.logger.warn('the refusal of a module could not be remembered', { module, error: describeError(w) });
  }
}

/** The first status of a registered job names its module and query: the export learns them. */
export async function pageObserved(deps: ExportDeps, job: JobRecord, z: ZohoJob): Promise<void> {
  if (!job.export_id || job.export_source !== 'job' || !z.module) return;
  const q = z.query;
  const query: StoredQuery = {
    fields: q?.fields?.length ? q.fields : null,
    criteria: (q?.criteria as StoredQuery['criteria']) ?? null,
    cvid: typeof q?.cvid === 'string' ? q.cvid : null,
  };
  await deps.exports.learn(job.export_id, z.module, query);
}

/**
 * Takes the export's wanted page (or one whose creator died, with `takeOver`), asks Zoho to create
 * it, and records it. True when a page was created.
 */
export async function createWantedPage(
  deps: ExportDeps,
  exportId: string,
  takeOver = false,
): Promise<boolean> {
  const now = deps.now ?? Date.now;
  const e = await deps.exports.get(exportId);
  if (e?.status !== 'RUNNING' || e.intent_page === undefined) return false;
  const claim = await deps.exports.claimIntent(e, INTENT_LEASE_MS, takeOver);
  if (!claim) return false;
  const page = claim.page;
  const parentId = e.page_jobs[page - 2];
  const parent = parentId ? await deps.jobs.get(parentId) : undefined;
  const version =
    asVersion(parent?.api_version) ?? asVersion(e.api_version) ?? deps.config.ZOHO_API_VERSION ?? 'v8';
  const q: CreateJobQuery = {};
  if (e.intent_page_token && usesPageToken(version)) q.pageToken = e.intent_page_token;
  else {
    if (!e.module) {
      await deps.exports.fail(exportId, {
        code: 'UNKNOWN_MODULE',
        message: 'the module of this export is not known',
        page,
      });
      return false;
    }
    q.module = e.module;
    if (e.query.fields) q.fields = e.query.fields;
    if (e.query.criteria) q.criteria = e.query.criteria;
    if (e.query.cvid) q.cvid = e.query.cvid;
    // Zoho's page number: the parent's plus one (a registered job need not be page 1 at Zoho).
    q.page = (parent?.page ?? page - 1) + 1;
  }
  let created: { id: string };
  let callback: string | undefined;
  try {
    // The claim's nonce (stored on the intent): only this attempt's token can adopt its job.
    callback = await deps.callbackUrl?.(exportId, page, {
      nonce: claim.nonce,
      expiresAt: now() + deps.timing.maxAgeMs + TOKEN_MARGIN_MS,
    });
    created = await deps.zoho.createJob(q, { version, ...(callback ? { callback: { url: callback } } : {}) });
  } catch (err) {
    let error = describeError(err);
    const attempts = (e.intent_attempts ?? 0) + 1;
    const wantedForMs = now() - (e.intent_since ?? now());
    const decision = afterCreateError(
      err,
      attempts,
      deps.timing,
      { callbacks: !!deps.callbackUrl, wantedForMs },
      deps.random,
    );
    if (decision.kind === 'give-up') {
      const minutes = Math.round(wantedForMs / 60_000);
      error = {
        code: 'FOLLOW_UP_NOT_CREATED',
        message:
          decision.why === 'age'
            ? `page ${page} was not created within the maximum job age (${minutes} min, ${attempts} attempts); Zoho's last answer: ${error.code}: ${error.message}`
            : `page ${page} was not created after ${attempts} attempts (${minutes} min); Zoho's last answer: ${error.code}: ${error.message}`,
      };
    }
    if (decision.kind === 'fail' || decision.kind === 'give-up') {
      // Zoho refused the module itself (a snapshot's or the sweep's create of the module by name)
      if (decision.kind === 'fail' && q.module !== undefined) await rememberRefusal(deps, q.module, err);
      // A page token that expired: the export restarts from page 1 (lib/exports/recovery.ts).
      if (decision.kind === 'fail' && q.pageToken !== undefined && isPageTokenRefusal(err)) {
        const r = await recoverFollowUp(deps, e, claim, error);
        if (r.kind !== 'fail') return r.kind === 'recovered';
        error = r.error ?? error;
      }
      deps.logger.error('follow-up page could not be created; the export failed', {
        export_id: exportId,
        page,
        error,
      });
      // The page before stays exported; its job says why the export stops there.
      if (parentId) await deps.jobs.followUpFailed(parentId, error);
      deps.metrics.count('JobsFailed'); // JobsFailedAlarm: the module's export is incomplete
      await failExport(deps, exportId, { ...error, page });
      return false;
    }
    if (decision.kind === 'await-callback') {
      // Its callback names the job Zoho may have made and adopts it (adoptPageJob); until the window
      // closes, no second job.
      await deps.exports.uncertainIntent(claim, error, now() + ADOPT_WINDOW_MS);
      deps.logger.warn('follow-up page may have been created; waiting for its callback before asking again', {
        export_id: exportId,
        page,
        error,
      });
      return false;
    }
    await deps.exports.retryIntent(claim, error, now() + decision.delayMs);
    deps.logger.warn('follow-up page not created yet; will retry', { export_id: exportId, page, error });
    return false;
  }
  const child = pageJobOf(
    deps,
    e,
    parent,
    page,
    created.id,
    version,
    callback !== undefined ? claim.nonce : undefined,
  );
  if (await deps.exports.recordPage(e, claim, child)) {
    deps.logger.info('follow-up page registered', {
      export_id: exportId,
      job_id: parentId,
      next_job_id: created.id,
      page,
    });
    return true;
  }
  deps.logger.error('follow-up page created at Zoho but not recorded (the intent was taken over)', {
    export_id: exportId,
    page,
    orphan_job_id: created.id,
  });
  return false;
}

/** The job record of an export's page `page` (1-based), Zoho's job `jobId`, after `parent`. */
function pageJobOf(
  deps: Pick<ExportDeps, 'jobs'>,
  e: ExportRecord,
  parent: JobRecord | undefined,
  page: number,
  jobId: string,
  version: ApiVersion,
  /** The nonce of the callback token Zoho was given for the job, if any. */
  callbackNonce: string | undefined,
): JobRecord {
  return exportPageJob(deps, e, {
    jobId,
    page: (parent?.page ?? page - 1) + 1,
    previousJobId: parent?.job_id,
    module: e.module ?? parent?.module ?? null,
    version,
    callbackNonce,
  });
}

/**
 * How much earlier than the intent's claim Zoho's clock may date a job made for that claim (the two
 * clocks differ; the claim is written just before Zoho is asked).
 */
export const ADOPT_CLOCK_SKEW_MS = 2 * 60_000;

/** An adoption's outcome; a refusal says why (for the log). */
export type Adoption = { adopted: true } | { adopted: false; reason: string };

/** A criteria tree in one canonical text: Zoho echoes it in its own shape (field objects, case). */
function canonicalCriteria(c: unknown): string {
  const walk = (n: unknown): unknown => {
    if (n === null || typeof n !== 'object') return n ?? null;
    if (Array.isArray(n)) return n.map(walk);
    const o = new Map(Object.entries(n));
    const group = o.get('group');
    if (Array.isArray(group))
      return { op: String(o.get('group_operator')).toLowerCase(), group: group.map(walk) };
    const field = o.get('field');
    const name =
      field !== null && typeof field === 'object' && !Array.isArray(field)
        ? new Map(Object.entries(field)).get('api_name')
        : (field ?? o.get('api_name'));
    const value = o.get('value');
    return {
      field: String(name),
      comparator: String(o.get('comparator')).toLowerCase(),
      value: Array.isArray(value)
        ? value.map(String)
        : value === null || value === undefined
          ? null
          : String(value),
    };
  };
  return JSON.stringify(walk(c));
}

const sameFields = (a: readonly string[] | null | undefined, b: readonly string[] | null | undefined) => {
  const x = [...new Set(a ?? [])].sort();
  const y = [...new Set(b ?? [])].sort();
  return x.length === y.length && x.every((f, i) => f === y[i]);
};

/**
 * Why Zoho's job `z` is not the job the intent of `e` asked for (undefined when it is): the export's
 * module and query (fields, criteria, custom view) and the page after the parent's, made after the
 * intent's last claim. A callback could otherwise inject any job of the org (or a made-up id) as a page.
 */
export function adoptionMismatch(
  e: ExportRecord,
  parent: JobRecord | undefined,
  page: number,
  z: ZohoJob,
): string | undefined {
  if (!e.module) return 'the export has no module yet';
  if (z.module !== e.module) return `the job is of module ${z.module ?? 'unknown'}, not ${e.module}`;
  const q = z.query;
  if (!sameFields(q?.fields, e.query.fields)) return 'the job asks for other fields';
  if ((q?.cvid ?? null) !== (e.query.cvid ?? null)) return 'the job uses another custom view';
  if (canonicalCriteria(q?.criteria ?? null) !== canonicalCriteria(e.query.criteria ?? null))
    return 'the job has other criteria';
  const wantPage = (parent?.page ?? page - 1) + 1;
  const zohoPage = z.result?.page ?? q?.page ?? 1;
  if (zohoPage !== wantPage) return `the job is Zoho's page ${zohoPage}, not ${wantPage}`;
  const created = z.createdTime ? Date.parse(z.createdTime) : Number.NaN;
  const claimed = e.intent_tried_at ?? e.intent_since;
  if (!Number.isFinite(created)) return 'the job has no creation time';
  if (claimed === undefined || created < claimed - ADOPT_CLOCK_SKEW_MS)
    return 'the job was created before the page was asked for';
  return undefined;
}

/**
 * Zoho named job `jobId` as page `page` of an export (its callback carries both) while that page is
 * still an intent: the creator died after Zoho answered, or its answer was lost. The job is adopted
 * only if Zoho's own status says it is the export's query (see `adoptionMismatch`) and, with `nonce`
 * (the callback token's), only while the intent is still that creation attempt. Records the job as the
 * page, atomically with clearing the intent, so no second job is created. A refusal says why.
 */
export async function tryAdoptPageJob(
  deps: ExportDeps,
  exportId: string,
  page: number,
  jobId: string,
  opts: { nonce?: string | undefined; signal?: AbortSignal | undefined } = {},
): Promise<Adoption> {
  const refused = (reason: string): Adoption => ({ adopted: false, reason });
  const e = await deps.exports.get(exportId);
  if (e?.status !== 'RUNNING' || e.intent_page !== page || e.page_jobs.length !== page - 1)
    return refused('the page is not wanted');
  if (opts.nonce !== undefined && e.intent_nonce !== opts.nonce)
    return refused('the token is of another creation attempt of the page');
  // Without a token's nonce (a caller that checked none), the intent's current attempt is adopted.
  const nonce = opts.nonce ?? e.intent_nonce;
  const parentId = e.page_jobs[page - 2];
  const parent = parentId ? await deps.jobs.get(parentId) : undefined;
  if (page > 1 && !parent) return refused('the previous page is not recorded');
  const version =
    asVersion(parent?.api_version) ?? asVersion(e.api_version) ?? deps.config.ZOHO_API_VERSION ?? 'v8';
  let z: ZohoJob;
  try {
    z = await deps.zoho.getJob(jobId, { version, signal: opts.signal });
  } catch (err) {
    // Zoho does not know the job: refused. Anything else (Zoho unreachable) is thrown: Zoho retries.
    if (err instanceof ZohoError && err.kind === 'terminal' && err.stage !== 'oauth')
      return refused(`Zoho refused the job's status: ${err.code}`);
    throw err;
  }
  const mismatch = adoptionMismatch(e, parent, page, z);
  if (mismatch) return refused(mismatch);
  const adopted = await deps.exports.adoptPage(
    e,
    page,
    pageJobOf(deps, e, parent, page, jobId, version, nonce),
    nonce,
  );
  if (!adopted) return refused('the page was recorded or taken over meanwhile');
  deps.logger.info('follow-up page adopted from its callback', {
    export_id: exportId,
    page,
    job_id: jobId,
  });
  return { adopted: true };
}

/** `tryAdoptPageJob` without a nonce, as a yes or no. */
export async function adoptPageJob(
  deps: ExportDeps,
  exportId: string,
  page: number,
  jobId: string,
): Promise<boolean> {
  return (await tryAdoptPageJob(deps, exportId, page, jobId)).adopted;
}
