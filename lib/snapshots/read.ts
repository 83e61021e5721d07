/** A snapshot as the API shows it: its item, and each module's export read now (status derived). */
import pLimit from 'p-limit';
import type { ExportDeps } from '../exports/deps.js';
import { readExport } from '../exports/read.js';
import {
  type PublicSnapshot,
  type PublicSnapshotModule,
  type SnapshotRecord,
  snapshotView,
} from './model.js';

/** Exports of one snapshot read at once (each reads its pages 10 at a time). */
const MODULE_READS = 4;

export async function snapshotModules(deps: ExportDeps, s: SnapshotRecord): Promise<PublicSnapshotModule[]> {
  const limit = pLimit(MODULE_READS);
  return Promise.all(
    s.modules.map((m) =>
      limit(async (): Promise<PublicSnapshotModule> => {
        const e = await readExport(deps, m.export_id);
        if (!e)
          // Past the exports' retention (DynamoDB's TTL): what is left of it is its files.
          return {
            ...m,
            status: 'FAILED',
            pages: 0,
            records: 0,
            bytes: 0,
            error: { code: 'EXPORT_NOT_FOUND', message: `export ${m.export_id} is no longer recorded` },
          };
        return {
          ...m,
          status: e.status === 'RUNNING' ? 'RUNNING' : e.status === 'COMPLETED' ? 'COMPLETED' : 'FAILED',
          pages: e.pages.length,
          records: e.records,
          bytes: e.bytes,
          error: e.error ? { code: e.error.code, message: e.error.message } : null,
        };
      }),
    ),
  );
}

export async function readSnapshot(deps: ExportDeps, s: SnapshotRecord): Promise<PublicSnapshot> {
  return snapshotView(s, await snapshotModules(deps, s));
}
