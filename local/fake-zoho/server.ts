/**
 * A faithful fake of Zoho Accounts (refresh-token grant) and the Zoho CRM Bulk Read API, for integration
 * tests, the local stack and benchmarks. Contract: Zoho's public documentation of OAuth and of the CRM
 * Bulk Read, Fields Metadata and Deleted Records APIs; where it is silent, the stricter reading.
 *
 * This file only wires the parts together: the shared state (state.ts), the HTTP router (router.ts)
 * and the in-process handle (FakeZoho). States are computed lazily from the clock on each request; no
 * interval keeps the process alive.
 *
 * Modules: oauth.ts (token endpoint, scopes), create.ts (create-job validation), criteria.ts, jobs.ts
 * (job model, states, pages, page tokens), download.ts + download-limit.ts (download, rate limit and
 * lock, result cache), faults.ts, callbacks.ts, records.ts (module record stores), fields.ts +
 * metadata.ts (field table and metadata endpoint), deleted.ts (deleted-records API), admin.ts
 * (HTTP admin API), persistence.ts (stateDir), csv.ts / zip.ts (the file).
 */
import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { checkCallbacks, maybeFireCallback, scheduleCallback } from './callbacks.js';
import { DEFAULT_CLIENT, fakeCredentials } from './credentials.js';
import { dropCached } from './download.js';
import { DownloadLimiter } from './download-limit.js';
import { FaultRegistry } from './faults.js';
import { ITEMS_PER_PARENT, isSupportedModule, rowParentModule, SUPPORTED_MODULES } from './fields.js';
import {
  concurrentJobs,
  fileStream,
  type Job,
  jobInfo,
  makeSeededJob,
  pageCount,
  seededView,
  setState,
  stateOf,
} from './jobs.js';
import { expireTokens, liveTokenCount, OAuthState, revokeRefreshToken, revokeTokens } from './oauth.js';
import { flush, load } from './persistence.js';
import { RecordStores, StoreError } from './records.js';
import { createHandler } from './router.js';
import { Clock, type Part, type Runtime, resolveClients, resolveRuntimeOptions } from './state.js';
import {
  addLineItems,
  deleteWithLineItems,
  isSubformModule,
  lineItemIds,
  restoreWithLineItems,
} from './subforms.js';
import type { FakeZoho, FakeZohoOptions, JobSpec, RecordTarget, RuntimeOptions } from './types.js';

export { ERROR_CATALOGUE, errorEnvelope } from './errors.js';
export * from './types.js';
export { DEFAULT_CLIENT, fakeCredentials, SUPPORTED_MODULES };

export async function startFakeZoho(options: FakeZohoOptions = {}): Promise<FakeZoho> {
  const clock = new Clock(options.now ?? Date.now);
  if (options.frozenClockAt !== undefined) clock.set(options.frozenClockAt);
  const clients = resolveClients(options);
  const users = new Map<string, string>();
  for (const c of clients) users.set(c.userId, c.userName);
  const dirty = new Set<Part>();
  const moduleRecords = options.moduleRecords ?? {};
  // The cache is written on a ZIP's first download; without its folder every write would fail quietly.
  if (options.resultCacheDir) await mkdir(options.resultCacheDir, { recursive: true });

  const rt: Runtime = {
    opts: resolveRuntimeOptions(options),
    tokenTtlSeconds: options.tokenTtlSeconds ?? 3600,
    mintLimit: options.mintLimit ?? { max: 10, windowMs: 600000 },
    maxLiveTokens: options.maxLiveTokens ?? 15,
    stateDir: options.stateDir,
    resultCacheDir: options.resultCacheDir,
    clock,
    now: () => clock.now(),
    clients,
    users,
    baseUrl: '',
    jobs: new Map(),
    pageTokens: new Map(),
    oauth: new OAuthState(),
    stores: new RecordStores(
      // A subform (field-tracker) store starts with ITEMS_PER_PARENT line items (history rows) per parent record.
      (m) => {
        const parent = rowParentModule(m);
        return moduleRecords[m] ?? (parent ? ITEMS_PER_PARENT * (moduleRecords[parent] ?? 1000) : 1000);
      },
      () => dirty.add('records'),
    ),
    faults: new FaultRegistry(),
    limiter: new DownloadLimiter(),
    requests: [],
    callbacks: [],
    counters: {
      mints: 0,
      downloads: 0,
      download429s: 0,
      statusCalls: 0,
      creates: 0,
      cacheHits: 0,
      peakConcurrentJobs: 0,
      concurrencyRefusals: 0,
    },
    createTimes: [],
    timers: new Set(),
    pendingCallbacks: new Set(),
    closed: false,
    idCounter: 10000000 + randomInt(0, 80000000),
    dirty,
    changed: (part) => {
      dirty.add(part);
      if (rt.stateDir) scheduleFlush();
    },
    onJobCreated: (id) => scheduleCallback(rt, id),
  };

  let flushScheduled = false;
  function scheduleFlush(): void {
    if (flushScheduled) return;
    flushScheduled = true;
    setImmediate(() => {
      flushScheduled = false;
      flush(rt);
    });
  }

  load(rt);
  dirty.clear();

  const handle = createHandler(rt, () => fake);
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) {
        res.writeHead(500);
        res.end(String(err));
      } else res.destroy();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  rt.baseUrl = `http://127.0.0.1:${port}`;
  for (const id of rt.pendingCallbacks) scheduleCallback(rt, id);

  const getJob = (id: string): Job => {
    const j = rt.jobs.get(id);
    if (!j) throw new Error(`fake-zoho: unknown job ${id}`);
    return j;
  };
  /** Runs an in-process mutation, then persists (like the end of an HTTP request). */
  const mutate = <T>(fn: () => T): T => {
    const out = fn();
    flush(rt);
    checkCallbacks(rt);
    return out;
  };
  const storeOf = (module: string) => {
    if (!isSupportedModule(module)) throw new StoreError(`fake-zoho: module ${module} has no record store`);
    return rt.stores.get(module);
  };
  const defaultUser = () => clients[0]?.userId ?? DEFAULT_CLIENT.userId;

  const fake: FakeZoho = {
    url: rt.baseUrl,
    port,
    accountsUrl: rt.baseUrl,
    apiDomain: rt.baseUrl,
    async close() {
      if (rt.closed) return;
      rt.closed = true;
      for (const t of rt.timers) clearTimeout(t);
      rt.timers.clear();
      try {
        flush(rt);
      } catch {
        // best effort on the way out
      }
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      server.closeAllConnections?.();
      await done;
    },
    addJob(spec: JobSpec = {}) {
      return mutate(() => {
        const job = makeSeededJob(rt, { ...spec, query: undefined });
        return { ...spec, ...seededView(rt, job) };
      });
    },
    csv(jobId) {
      return fileStream(rt, getJob(jobId));
    },
    recordCount(jobId) {
      return pageCount(getJob(jobId)).count;
    },
    requests: rt.requests,
    clearRequests() {
      rt.requests.length = 0;
    },
    callbacks: rt.callbacks,
    clearCallbacks() {
      rt.callbacks.length = 0;
    },
    inject(fault) {
      rt.faults.inject(fault);
    },
    clearFaults() {
      rt.faults.clear();
    },
    revokeTokens() {
      mutate(() => revokeTokens(rt));
    },
    revokeRefreshToken(refreshToken) {
      mutate(() => revokeRefreshToken(rt, refreshToken));
    },
    expireTokens() {
      mutate(() => expireTokens(rt));
    },
    setState(jobId, state) {
      const job = getJob(jobId);
      mutate(() => setState(rt, job, state));
      maybeFireCallback(rt, job.id);
    },
    completeNow(jobId) {
      fake.setState(jobId, 'COMPLETED');
    },
    stateOf(jobId) {
      return stateOf(rt, getJob(jobId));
    },
    stats() {
      return {
        ...rt.counters,
        concurrentJobs: concurrentJobs(rt),
        liveTokens: liveTokenCount(rt),
        lockUntil: rt.limiter.lockEnd(rt.now()),
      };
    },
    resetPeakConcurrentJobs() {
      rt.counters.peakConcurrentJobs = concurrentJobs(rt);
      return fake.stats();
    },
    jobInfo(jobId) {
      return jobInfo(rt, getJob(jobId));
    },
    expireResult(jobId) {
      const job = getJob(jobId);
      mutate(() => {
        job.resultExpired = true;
        rt.changed('jobs');
      });
      dropCached(rt, jobId);
    },
    expirePageTokens() {
      mutate(() => {
        rt.pageTokens.clear();
        rt.changed('jobs');
      });
    },
    setModuleRecords(module, count, at) {
      return mutate(() => {
        const s = storeOf(module);
        s.reset(count, at ?? rt.now());
        rt.changed('records');
        return s.info();
      });
    },
    modifyRecords(module, target: RecordTarget, at) {
      return mutate(() => {
        const ids = storeOf(module).modify(target, at ?? rt.now());
        rt.changed('records');
        return ids;
      });
    },
    recomputeFormulas(module, target: RecordTarget, at) {
      return mutate(() => {
        const ids = storeOf(module).recompute(target, at ?? rt.now());
        rt.changed('records');
        return ids;
      });
    },
    createRecords(module, count, at) {
      return mutate(() => {
        const ids = storeOf(module).create(count, at ?? rt.now());
        rt.changed('records');
        return ids;
      });
    },
    deleteRecords(module, target, opts = {}) {
      return mutate(() => {
        const by = opts.by ?? defaultUser();
        storeOf(module);
        // A removed line item is gone for good (subforms.ts); a parent takes its line items with it.
        const type = opts.type ?? (isSubformModule(module) ? 'permanent' : 'recycle');
        const ids = deleteWithLineItems(rt.stores, module, target, opts.at ?? rt.now(), type, by);
        rt.changed('records');
        return ids;
      });
    },
    restoreRecords(module, target, at) {
      return mutate(() => {
        storeOf(module);
        const ids = restoreWithLineItems(rt.stores, module, target, at ?? rt.now());
        rt.changed('records');
        return ids;
      });
    },
    addLineItems(subform, parentId, count = 1, at) {
      return mutate(() => {
        const ids = addLineItems(rt.stores, subform, parentId, count, at ?? rt.now());
        rt.changed('records');
        return ids;
      });
    },
    lineItems(subform, parentId) {
      return mutate(() => lineItemIds(rt.stores, subform, parentId));
    },
    moduleInfo(module) {
      return mutate(() => storeOf(module).info());
    },
    records(module, range) {
      return mutate(() => storeOf(module).records(range));
    },
    options() {
      return { ...rt.opts };
    },
    setOptions(patch: RuntimeOptions) {
      rt.opts = resolveRuntimeOptions(patch, rt.opts);
    },
    now() {
      return rt.now();
    },
    setClock(ms) {
      mutate(() => {
        clock.set(ms);
        rt.changed('meta');
      });
    },
    advanceClock(ms) {
      mutate(() => {
        clock.advance(ms);
        rt.changed('meta');
      });
    },
  };
  return fake;
}
