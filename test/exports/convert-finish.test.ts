/**
 * The converter finishing an export (DynamoDB Local, s3rver, the fake Zoho): a Glue failure while the
 * export is finalized after the last page's conversion is no conversion failure. The page stays DONE,
 * no conversion is counted failed or sent again, and the sweep finalizes the export later.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Catalog } from '../../lib/exports/catalog.js';
import { fileCatalog } from '../../lib/exports/catalog.js';
import { startExport } from '../../lib/exports/start.js';
import { fileViewCatalog } from '../../lib/exports/views.js';
import { type Harness, pipelineHarness } from '../support/pipeline.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('the converter finishing an export', () => {
  it('a catalog failure after the conversion leaves the page DONE; the sweep completes the export', async () => {
    let glueDown = true;
    const dir = mkdtempSync(path.join(tmpdir(), 'zoho-catalog-'));
    let real: Catalog | undefined;
    const catalog: Catalog = {
      database: 'zoho_crm',
      // Reading the table (before converting) works: the failure under test is the widening after it.
      getColumns: async (table) => real?.getColumns(table),
      views: fileViewCatalog(dir, 'zoho_crm'),
      async ensureModuleTable(input) {
        if (glueDown) throw new Error('Glue is unavailable (test)');
        real ??= fileCatalog(dir, 'zoho_crm');
        return real.ensureModuleTable(input);
      },
    };
    h = await pipelineHarness({
      config: { OUTPUT_FORMATS: 'csv,parquet' },
      fake: { moduleRecords: { Contacts: 300 } },
      exportDeps: { catalog },
    });
    // Every conversion message sent (the downloader's, and any the converter sends for a retry).
    const send = h.exportDeps.convert;
    let sent = 0;
    h.exportDeps.convert = async (m, delayMs) => {
      sent++;
      await send?.(m, delayMs);
    };
    const id = (await startExport(h.exportDeps, { query: { module: 'Contacts' }, source: 'api' })).record
      .export_id;
    for (let i = 0; i < 60; i++) {
      await h.tick(30_000);
      const j = (await h.allJobs())[0];
      if (j?.parquet_status === 'DONE' || j?.parquet_status === 'FAILED') break;
    }
    const [job] = await h.allJobs();
    expect(job?.parquet_status).toBe('DONE');
    expect(h.metrics.counts.ConversionsFailed ?? 0).toBe(0);
    expect(h.metrics.counts.PagesConverted).toBe(1);
    expect(sent).toBe(1);
    expect((await h.exports.get(id))?.status).toBe('RUNNING');
    // The page is still flagged (page_converted): once Glue is back, the sweep finalizes.
    expect(job?.export_reaction).toBe('page_converted');
    glueDown = false;
    for (let i = 0; i < 10 && (await h.exports.get(id))?.status === 'RUNNING'; i++) await h.tick(60_000);
    expect((await h.exports.get(id))?.status).toBe('COMPLETED');
    expect(sent).toBe(1);
  }, 120_000);
});
