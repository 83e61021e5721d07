/**
 * Finalizing an export on the memory backend: once every page is EXPORTED (and converted to Parquet
 * in-process), one finalizer writes the manifest once, completes the export and publishes one event;
 * a second or concurrent finalizer writes nothing. A catalog failure or an event that cannot be
 * published leaves the rest to the sweep, which finishes with one manifest and one event.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { fileCatalog } from '../../lib/exports/catalog.js';
import { finalizeExport } from '../../lib/exports/finalize.js';
import { startExport } from '../../lib/exports/start.js';
import { expectCompleted, finish, tickUntil } from '../support/exports.js';
import { type Harness, type MemoryStorage, pipelineHarness } from '../support/pipeline.js';

let h: Harness<MemoryStorage> | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Counts the PutObject calls (the manifest's write) whose key holds `/_manifests/`. */
function countManifestPuts(s3: S3Client): { n: number } {
  const count = { n: 0 };
  s3.middlewareStack.add(
    (next, context) => async (args) => {
      const key: unknown = Reflect.get(args.input as object, 'Key');
      if (context.commandName === 'PutObjectCommand' && String(key).includes('/_manifests/')) count.n++;
      return next(args);
    },
    { step: 'initialize', name: 'countManifestPuts' },
  );
  return count;
}

async function start(hh: Harness<MemoryStorage>, module: string): Promise<string> {
  return (await startExport(hh.exportDeps, { query: { module }, source: 'api' })).record.export_id;
}

describe('finalizing an export', () => {
  it('CSV and Parquet: the manifest written once, COMPLETED, one event; finalizing again does nothing', async () => {
    h = await pipelineHarness({ backend: 'memory', fake: { perPage: 1000, moduleRecords: { Deals: 1300 } } });
    const puts = countManifestPuts(h.aws.s3);
    const id = await start(h, 'Deals');
    await finish(h, id);
    const { m } = await expectCompleted(h, id, { pages: 2, records: 1300, version: 'v8' });
    expect(m.totals).toMatchObject({ pages: 2, records: 1300 });
    expect(m.catalog).toMatchObject({ database: h.config.GLUE_DATABASE, table: 'zoho_deals', created: true });
    expect(puts.n).toBe(1);
    expect(h.metrics.counts.ExportsCompleted).toBe(1);
    expect(h.metrics.counts.ExportRecords).toBe(1300);
    expect(h.metrics.counts.PagesConverted).toBe(2);
    // No page is left flagged, nothing wants attention: a later finalize finds nothing to do.
    expect((await h.allJobs()).map((j) => j.export_pending)).toEqual([undefined, undefined]);
    expect(await finalizeExport(h.exportDeps, id)).toEqual({ kind: 'not-ready' });
    for (let i = 0; i < 3; i++) await h.tick();
    expect(puts.n).toBe(1);
    expect(h.events.published).toHaveLength(1);
  });

  it('CSV only: no conversion, no Parquet object, the manifest’s formats are ["csv"]', async () => {
    h = await pipelineHarness({
      backend: 'memory',
      config: { OUTPUT_FORMATS: 'csv' },
      fake: { moduleRecords: { Leads: 40 } },
    });
    const id = await start(h, 'Leads');
    await finish(h, id);
    const rec = (await h.exports.get(id))!;
    expect(rec.status).toBe('COMPLETED');
    const job = (await h.jobs.get(rec.page_jobs[0]!))!;
    const manifest = JSON.parse((await h.objectBytes(rec.manifest!.key)).toString('utf8'));
    expect(manifest.formats).toEqual(['csv']);
    expect(manifest.totals).toEqual({ pages: 1, records: 40, bytes: job.s3!.bytes });
    expect(manifest.pages[0].parquet).toBeUndefined();
    expect(manifest.catalog).toBeUndefined();
    expect([...h.aws.s3server.objects.keys()].sort()).toEqual(
      [`exports/${rec.manifest!.key}`, `exports/${job.s3!.key}`].sort(),
    );
    expect(h.metrics.counts.PagesConverted).toBeUndefined();
    expect(h.events.published.map((e) => e.detailType)).toEqual(['Export Completed']);
  });

  it('two finalizers at once (the first one died before its claim): one completes, one manifest, one event', async () => {
    h = await pipelineHarness({
      backend: 'memory',
      config: { OUTPUT_FORMATS: 'csv' },
      fake: { moduleRecords: { Leads: 10 } },
    });
    const puts = countManifestPuts(h.aws.s3);
    // The downloader's finalize dies before it claims (as a killed Lambda would): the page stays flagged.
    const store = h.exports;
    const real = store.claimFinalize.bind(store);
    let died = false;
    store.claimFinalize = async (...args: Parameters<typeof real>) => {
      if (!died) {
        died = true;
        throw new Error('the downloader was killed (test)');
      }
      return real(...args);
    };
    const id = await start(h, 'Leads');
    await tickUntil(h, async () => died);
    const [job] = await h.allJobs();
    expect(job).toMatchObject({
      status: 'EXPORTED',
      export_pending: 'yes',
      export_reaction: 'page_exported',
    });
    expect((await h.exports.get(id))!.status).toBe('RUNNING');
    const outcomes = await Promise.all([finalizeExport(h.exportDeps, id), finalizeExport(h.exportDeps, id)]);
    expect(outcomes.map((o) => o.kind).sort()).toEqual(['busy', 'completed']);
    expect((await h.exports.get(id))!.status).toBe('COMPLETED');
    expect(puts.n).toBe(1);
    expect(h.events.published).toHaveLength(1);
    // The page's flag is cleared by the sweep's follow-through, which writes nothing more.
    for (let i = 0; i < 5; i++) await h.tick();
    expect((await h.jobs.get(job!.job_id))!.export_pending).toBeUndefined();
    expect(puts.n).toBe(1);
    expect(h.events.published).toHaveLength(1);
  });

  it('the catalog down after the last conversion: the page stays DONE, the sweep completes once it is back', async () => {
    let glueDown = true;
    const catalog = fileCatalog(mkdtempSync(path.join(tmpdir(), 'zoho-catalog-')), 'zoho_crm');
    h = await pipelineHarness({
      backend: 'memory',
      fake: { moduleRecords: { Contacts: 300 } },
      exportDeps: {
        catalog: {
          database: 'zoho_crm',
          getColumns: (table) => catalog.getColumns(table),
          views: catalog.views,
          async ensureModuleTable(input) {
            if (glueDown) throw new Error('Glue is unavailable (test)');
            return catalog.ensureModuleTable(input);
          },
        },
      },
    });
    const puts = countManifestPuts(h.aws.s3);
    const id = await start(h, 'Contacts');
    await tickUntil(h, async () => (await h!.allJobs())[0]?.parquet_status === 'DONE', { stepMs: 30_000 });
    const [job] = await h.allJobs();
    expect(job).toMatchObject({
      parquet_status: 'DONE',
      export_reaction: 'page_converted',
      export_pending: 'yes',
    });
    expect((await h.exports.get(id))!.status).toBe('RUNNING');
    expect(h.metrics.counts.ConversionsFailed).toBeUndefined();
    expect(puts.n).toBe(0);
    glueDown = false;
    await finish(h, id);
    expect((await h.exports.get(id))!.status).toBe('COMPLETED');
    expect(puts.n).toBe(1);
    expect(h.metrics.counts.PagesConverted).toBe(1);
    expect(h.events.published.map((e) => e.detailType)).toEqual(['Export Completed']);
  });

  it('the event bus down: COMPLETED with event_pending; the sweep publishes it exactly once', async () => {
    h = await pipelineHarness({ backend: 'memory', fake: { moduleRecords: { Contacts: 120 } } });
    h.events.failNext = 3;
    const id = await start(h, 'Contacts');
    await finish(h, id);
    const rec = (await h.exports.get(id))!;
    expect(rec.status).toBe('COMPLETED');
    expect(rec.event_pending).toBe('yes');
    expect(h.events.published).toEqual([]);
    await tickUntil(h, async () => h!.events.published.length > 0, { maxTicks: 10 });
    expect(h.events.failNext).toBe(0);
    for (let i = 0; i < 5; i++) await h.tick();
    expect(h.events.published.map((e) => [e.detailType, e.detail.export_id, e.detail.status])).toEqual([
      ['Export Completed', id, 'COMPLETED'],
    ]);
    expect((await h.exports.get(id))!.event_pending).toBeUndefined();
  });
});
