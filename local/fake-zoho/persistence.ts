/**
 * Persistence (option stateDir): what the fake must remember to answer every job the same way after a
 * restart, as JSON files written atomically (temp file + rename):
 *   jobs.json     jobs (spec, snapshot position, forced state, callback fired, expired result), page
 *                 tokens, the job id counter, create times (daily limit)
 *   records.json  every module store's change log (never rows: a snapshot is a log position)
 *   oauth.json    issued access tokens, live-token lists, the mint log, revoked refresh tokens
 *   meta.json     the clock (frozen instant or offset)
 * Files are rewritten when their part changed, at the end of each request and of each in-process call.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Job, PageToken } from './jobs.js';
import type { OAuthState } from './oauth.js';
import type { ChangeOp } from './records.js';
import type { Part, Runtime } from './state.js';

const FORMAT = 1;

interface JobsFile {
  format: number;
  idCounter: number;
  jobs: Job[];
  pageTokens: [string, PageToken][];
  createTimes: number[];
}

interface MetaFile {
  format: number;
  clock: { frozenAt: number | null; offset: number };
}

function writeAtomic(file: string, data: unknown): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(data));
  renameSync(tmp, file);
}

function read<T>(file: string): T | undefined {
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

/** Writes the changed parts. */
export function flush(rt: Runtime): void {
  const dir = rt.stateDir;
  if (!dir || rt.dirty.size === 0) {
    rt.dirty.clear();
    return;
  }
  mkdirSync(dir, { recursive: true });
  const parts = [...rt.dirty];
  rt.dirty.clear();
  for (const p of parts) {
    try {
      writePart(rt, dir, p);
    } catch (err) {
      rt.dirty.add(p); // retried on the next flush
      throw err;
    }
  }
}

function writePart(rt: Runtime, dir: string, p: Part): void {
  switch (p) {
    case 'jobs': {
      const data: JobsFile = {
        format: FORMAT,
        idCounter: rt.idCounter,
        jobs: [...rt.jobs.values()],
        pageTokens: [...rt.pageTokens],
        createTimes: rt.createTimes,
      };
      writeAtomic(join(dir, 'jobs.json'), data);
      return;
    }
    case 'records':
      writeAtomic(join(dir, 'records.json'), { format: FORMAT, stores: rt.stores.toJSON() });
      return;
    case 'oauth':
      writeAtomic(join(dir, 'oauth.json'), { format: FORMAT, ...rt.oauth.toJSON() });
      return;
    case 'meta': {
      const data: MetaFile = {
        format: FORMAT,
        clock: { frozenAt: rt.clock.frozenAt ?? null, offset: rt.clock.offset },
      };
      writeAtomic(join(dir, 'meta.json'), data);
      return;
    }
  }
}

/** Loads whatever the folder holds; returns true when a previous run's state was found. */
export function load(rt: Runtime): boolean {
  const dir = rt.stateDir;
  if (!dir) return false;
  let found = false;
  const jobs = read<JobsFile>(join(dir, 'jobs.json'));
  if (jobs) {
    found = true;
    rt.jobs.clear();
    for (const j of jobs.jobs) {
      rt.jobs.set(j.id, j);
      if (j.callbackUrl && !j.callbackFired) rt.pendingCallbacks.add(j.id);
    }
    rt.pageTokens.clear();
    for (const [k, v] of jobs.pageTokens) rt.pageTokens.set(k, v);
    rt.idCounter = jobs.idCounter;
    rt.createTimes = jobs.createTimes ?? [];
  }
  const records = read<{ stores: Record<string, ChangeOp[]> }>(join(dir, 'records.json'));
  if (records) {
    found = true;
    rt.stores.load(records.stores);
  }
  const oauth = read<ReturnType<OAuthState['toJSON']>>(join(dir, 'oauth.json'));
  if (oauth) {
    found = true;
    rt.oauth.load(oauth);
  }
  const meta = read<MetaFile>(join(dir, 'meta.json'));
  if (meta) {
    found = true;
    rt.clock.frozenAt = meta.clock.frozenAt ?? undefined;
    rt.clock.offset = meta.clock.offset;
  }
  return found;
}
