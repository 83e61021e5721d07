/** `POST /snapshots`, `GET /snapshots`, `GET /snapshots/{snapshot_id}`: every module (or a list) as one unit. */
import { z } from 'zod';
import type { ExportDeps } from '../exports/deps.js';
import { MODULE_PATTERN } from '../exports/model.js';
import { MAX_SNAPSHOT_MODULES, SNAPSHOT_ID_PATTERN, SNAPSHOT_MODES } from '../snapshots/model.js';
import { readSnapshot } from '../snapshots/read.js';
import { startSnapshot } from '../snapshots/start.js';
import { snapshotStore } from '../snapshots/store.js';
import { firstPagesWindowMs } from '../wiring.js';
import { idempotencyKeyOf, startRefusal } from './exports.js';
import {
  ApiError,
  type Event,
  json,
  parseJsonBody,
  parsePageQuery,
  pathParamMatching,
  type Result,
} from './http.js';

/** A list of 98 module names fits in a few KiB. */
export const MAX_SNAPSHOT_BODY_BYTES = 16 * 1024;

const EXAMPLE = '{"modules": "all"} or {"modules": ["Contacts", "Quoted_Items"]}';

/** A list of modules; checked on its own so its problem is named (a union names none). */
const moduleList = z
  .array(
    z.string({ message: 'modules: each module must be a string' }).regex(MODULE_PATTERN, {
      message: 'modules: each module must be a Zoho module API name (letters, digits, _)',
    }),
  )
  .min(1, 'modules: list at least one module, or send "all"')
  .max(MAX_SNAPSHOT_MODULES, `modules: at most ${MAX_SNAPSHOT_MODULES} modules in one snapshot`)
  .refine((a) => new Set(a).size === a.length, 'modules: a module is listed twice');

export const snapshotBody = z.strictObject({
  modules: z
    .union([z.literal('all'), z.array(z.unknown())], {
      message: `modules must be "all" or a list of module API names, as in ${EXAMPLE}`,
    })
    .transform((v, ctx): 'all' | string[] => {
      if (v === 'all') return v;
      const r = moduleList.safeParse(v);
      if (r.success) return r.data;
      for (const i of r.error.issues) ctx.addIssue({ code: 'custom', message: i.message, path: i.path });
      return z.NEVER;
    }),
  mode: z
    .enum(SNAPSHOT_MODES, { message: `mode must be one of ${SNAPSHOT_MODES.join(', ')}` })
    .default('full'),
});

const BODY_CODES: Record<string, string> = { modules: 'INVALID_MODULES', mode: 'INVALID_MODE' };

export async function createSnapshot(deps: ExportDeps, event: Event, signal?: AbortSignal): Promise<Result> {
  const now = deps.now ?? Date.now;
  const begun = now();
  const key = idempotencyKeyOf(event);
  const body = parseJsonBody(event, snapshotBody, {
    maxBytes: MAX_SNAPSHOT_BODY_BYTES,
    example: EXAMPLE,
    issueCode: (i) => BODY_CODES[String(i.path[0])] ?? 'INVALID_BODY',
  });
  if (body.mode === 'incremental')
    // An incremental window needs a watermark per module, which only a schedule keeps.
    throw new ApiError(
      400,
      'INCREMENTAL_NOT_SUPPORTED',
      'mode "incremental" is not supported for snapshots: an incremental window needs a watermark per module, which only schedules keep (GET /schedules); send mode "full"',
    );
  try {
    const { created, snapshotId } = await startSnapshot(deps, {
      modules: body.modules,
      mode: 'full',
      idempotencyKey: key,
      deadline: begun + firstPagesWindowMs('api'),
      ...(signal ? { signal } : {}),
    });
    const s = await snapshotStore(deps).get(snapshotId);
    if (!s) throw new Error(`snapshot ${snapshotId} vanished`);
    const view = await readSnapshot(deps, s);
    return created ? json(201, view, { location: `/snapshots/${snapshotId}` }) : json(200, view);
  } catch (e) {
    throw startRefusal(e);
  }
}

export async function getSnapshot(deps: ExportDeps, event: Event): Promise<Result> {
  const id = pathParamMatching(
    event,
    'snapshot_id',
    'INVALID_SNAPSHOT_ID',
    SNAPSHOT_ID_PATTERN,
    'a snapshot id is "sn_" and 26 characters, as POST /snapshots returned it',
  );
  const s = await snapshotStore(deps).get(id);
  if (!s) throw new ApiError(404, 'SNAPSHOT_NOT_FOUND', `no snapshot ${id}`);
  return json(200, await readSnapshot(deps, s));
}

export async function listSnapshots(deps: ExportDeps, event: Event): Promise<Result> {
  const q = parsePageQuery(event, 20);
  const page = await snapshotStore(deps).list(q.page);
  const snapshots = [];
  // One at a time: each reads every module's export (and its pages).
  for (const s of page.snapshots) snapshots.push(await readSnapshot(deps, s));
  return json(200, { snapshots, next: page.next });
}
