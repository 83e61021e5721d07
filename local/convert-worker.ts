/**
 * The local stack's Parquet converter: its own process (as its own Lambda would be), so its memory and
 * CPU are not the API's and the downloader's. Started by local-stack.ts with its configuration as a
 * JSON argument; receives `{ type: 'convert', msg }` over IPC, answers `{ type: 'done', job_id }`, and
 * asks the parent to send a conversion again later with `{ type: 'convert', msg, delayMs }`.
 */
import { resolve } from 'node:path';
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

export interface ConvertWorkerConfig {
  ddbEndpoint: string;
  s3Endpoint: string;
  tables: TableNames;
  bucket: string;
  dataDir: string;
  /** The settings' environment and the Zoho credentials (ZOHO_CLIENT_ID, ...). */
  env: Record<string, string | undefined>;
  /** Record this function's AWS calls to this file (local-stack.ts ZOHO_EXPORT_RECORD_AWS_CALLS). */
  recordFile?: string;
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? '{}') as ConvertWorkerConfig;
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
