import { randomUUID } from 'node:crypto';
import { timingFrom } from '../../lib/config.js';
import { MemoryTable } from '../../lib/ddb/memory-table.js';
import type { ExportDeps } from '../../lib/exports/deps.js';
import { createLogger, memoryMetrics } from '../../lib/observability.js';
import { stores } from '../../lib/runtime.js';
import { TABLES } from '../../lib/tables.js';

/** Fresh in-memory tables with the product's definitions. */
export function memoryTables(): { jobs: MemoryTable; exports: MemoryTable; state: MemoryTable } {
  const id = randomUUID().slice(0, 8);
  return {
    jobs: new MemoryTable(`jobs-${id}`, TABLES.jobs),
    exports: new MemoryTable(`exports-${id}`, TABLES.exports),
    state: new MemoryTable(`state-${id}`, TABLES.state),
  };
}

/** Export dependencies on in-memory tables; `zoho` must be given when a test reaches Zoho. */
export function memoryExportDeps(
  extra: Partial<ExportDeps> = {},
): ExportDeps & { tables: ReturnType<typeof memoryTables> } {
  const tables = memoryTables();
  const timing = timingFrom({ POLL_INTERVAL_SECONDS: 60, RETENTION_DAYS: 90 });
  const s = stores(tables, timing);
  const unreachable = (): never => {
    throw new Error('this test does not talk to Zoho');
  };
  return {
    tables,
    ...s,
    zoho: {
      apiVersion: 'v8',
      getJob: unreachable,
      createJob: unreachable,
      downloadResult: unreachable,
      getFields: unreachable,
      getDeletedRecords: unreachable,
      listModules: unreachable,
    },
    config: { ZOHO_API_VERSION: 'v8', S3_PREFIX: 'zoho-crm', BUCKET: 'exports' },
    timing,
    logger: createLogger('test', 'SILENT'),
    metrics: memoryMetrics(),
    ...extra,
  };
}
