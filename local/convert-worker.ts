/**
 * The local stack's Parquet converter: its own process (as its own Lambda would be), so its memory and
 * CPU are not the API's and the downloader's. Started by local-stack.ts with its configuration as a
 * JSON argument; receives `{ type: 'convert', msg }` over IPC, answers `{ type: 'done', job_id }`, and
 * asks the parent to send a conversion again later with `{ type: 'convert', msg, delayMs }`.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { loadSettings } from '../lib/config.js';
import { fileCatalog } from '../lib/exports/catalog.js';
import { convertPage, fieldsCache } from '../lib/exports/convert.js';
import { type ConvertMessage, convertMessage } from '../lib/exports/convert-message.js';
import { fileEventPublisher } from '../lib/exports/events.js';
import { createLogger, describeError, memoryMetrics } from '../lib/observability.js';
import { SETTING_NAMES } from '../lib/settings.js';
import { convertDeps } from '../lib/wiring.js';
import { credentialsFromEnv } from '../lib/zoho/token-broker.js';
import { AwsCallRecorder, jsonLinesSink } from './aws-calls.js';
import { localFunction } from './function-parts.js';
import type { TableNames } from './stand-ins.js';

/** The worker's configuration, the JSON argument local-stack.ts passes. */
const workerConfig = z.object({
  ddbEndpoint: z.url(),
  s3Endpoint: z.url(),
  tables: z.object({ jobs: z.string().min(1), exports: z.string().min(1), state: z.string().min(1) }),
  bucket: z.string().min(1),
  dataDir: z.string().min(1),
  /** The settings' environment and the Zoho credentials (ZOHO_CLIENT_ID, ...). */
  env: z.record(z.string(), z.string().optional()),
  /** Record this function's AWS calls to this file (local-stack.ts ZOHO_EXPORT_RECORD_AWS_CALLS). */
  recordFile: z.string().min(1).optional(),
}) satisfies z.ZodType<{ tables: TableNames }>;
export type ConvertWorkerConfig = z.infer<typeof workerConfig>;

async function main(): Promise<void> {
  const cfg = workerConfig.parse(JSON.parse(process.argv[2] ?? '{}'));
  const settings = loadSettings(SETTING_NAMES, cfg.env);
  const logger = createLogger('convert-parquet');
  const metrics = memoryMetrics();
  const send = (m: unknown): void => {
    process.send?.(m);
  };
  const fn = localFunction('convert-parquet', {
    endpoints: { ddb: cfg.ddbEndpoint, s3: cfg.s3Endpoint },
    tables: cfg.tables,
    config: { ...settings, BUCKET: cfg.bucket },
    credentials: credentialsFromEnv(cfg.env),
    logger,
    metrics,
    events: fileEventPublisher(resolve(cfg.dataDir, 'events.jsonl')),
    catalog: fileCatalog(resolve(cfg.dataDir, 'catalog'), settings.GLUE_DATABASE),
    convert: async (msg: ConvertMessage, delayMs?: number) => send({ type: 'convert', msg, delayMs }),
    ...(cfg.recordFile
      ? {
          recorder: new AwsCallRecorder(
            { tables: cfg.tables, bucket: cfg.bucket },
            jsonLinesSink(cfg.recordFile),
          ),
        }
      : {}),
  });
  if (!fn.s3) throw new Error('convert-parquet has a bucket in its spec, so an S3 client');
  const deps = convertDeps(fn.core, { ...fn.parts, s3: fn.s3 });
  const fields = fieldsCache(deps);
  const abort = new AbortController();
  let chain = Promise.resolve();
  process.on('message', (m: { type?: string; msg?: unknown }) => {
    if (m?.type !== 'convert') return;
    const parsed = convertMessage.safeParse(m.msg);
    if (!parsed.success) return;
    chain = chain.then(async () => {
      try {
        const o = await convertPage(deps, parsed.data, { signal: abort.signal, fields });
        logger.info('conversion handled', { job_id: parsed.data.job_id, ...o });
      } catch (e) {
        logger.error('conversion could not be recorded', {
          job_id: parsed.data.job_id,
          error: describeError(e),
        });
      }
      send({ type: 'done', job_id: parsed.data.job_id });
    });
  });
  const stop = (): void => {
    abort.abort();
    void chain.finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('disconnect', stop);
  send({ type: 'ready' });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
