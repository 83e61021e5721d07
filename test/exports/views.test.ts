/**
 * The views end to end (DynamoDB Local, s3rver, the fake Zoho): a full schedule run, two incremental
 * runs with modifications, creations, deletions (recycle bin and permanent) and a restore between
 * them; the views' SQL, as the views step wrote it into the catalog, run in DuckDB over the Parquet
 * files downloaded from S3. Pages of an export that never committed must not show.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { duck, sq, tempDir } from '../analytics/helpers.js';
import { apiOf, finish } from '../support/exports.js';
import { type Harness, pipelineHarness } from '../support/pipeline.js';
import { keysUnder, queryView } from '../support/views.js';

const SCHEDULES = [
  { name: 'contacts-nightly', module: 'Contacts', mode: 'incremental', schedule: 'cron(0 2 * * ? *)' },
];
const UNCOMMITTED = 'ex_01ZZZZZZZZZZZZZZZZZZZZZZZZ';

let h: Harness | undefined;
const tmp = tempDir();
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const query = (hh: Harness, view: string, select: string) => queryView(hh, tmp.dir, 'Contacts', view, select);
const keys = keysUnder;

const live = (hh: Harness) =>
  hh.fake
    .records('Contacts')
    .filter((r) => !r.deleted)
    .map((r) => `${r.id}@${r.modifiedMs}`)
    .sort();

describe('the views of a module', () => {
  it('_current is the records at Zoho; _history every version; uncommitted pages never show', async () => {
    h = await pipelineHarness({
      config: { SCHEDULES: JSON.stringify(SCHEDULES), OUTPUT_FORMATS: 'csv,parquet' },
      fake: { moduleRecords: { Contacts: 20 } },
    });
    const hh = h;
    const api = apiOf(hh);
    const run = async () => {
      const r = await api('POST', '/schedules/contacts-nightly/runs');
      expect(r.status).toBe(201);
      const e = await finish(hh, r.body.export_id);
      expect(e.status).toBe('COMPLETED');
      return e;
    };
    const versions = new Set<string>(live(hh));
    const e1 = await run();

    hh.clock.advance(3_600_000);
    hh.fake.modifyRecords('Contacts', { indexes: [1, 2, 3] });
    hh.fake.createRecords('Contacts', 2);
    hh.fake.deleteRecords('Contacts', { indexes: [4, 5] }); // recycle bin; 4 comes back below
    hh.fake.deleteRecords('Contacts', { indexes: [6] }, { type: 'permanent' });
    hh.clock.advance(60_000);
    for (const v of live(hh)) versions.add(v);
    await run();

    hh.clock.advance(3_600_000);
    hh.fake.restoreRecords('Contacts', { indexes: [4] });
    hh.clock.advance(1_000);
    hh.fake.modifyRecords('Contacts', { indexes: [4, 1] });
    hh.fake.createRecords('Contacts', 1);
    hh.fake.deleteRecords('Contacts', { indexes: [7] });
    hh.clock.advance(60_000);
    for (const v of live(hh)) versions.add(v);
    await run();

    // Pages of an export that never committed (RUNNING, or FAILED): newer versions and a new record,
    // in the module's partition, with no manifest.
    const [page] = (await keys(hh, `${hh.config.S3_PREFIX}/parquet/module=Contacts/`)).slice(-1);
    const src = path.join(tmp.dir, 'src.parquet');
    const out = path.join(tmp.dir, 'uncommitted.parquet');
    writeFileSync(src, await hh.objectBytes(page!));
    await duck(
      `COPY (SELECT * REPLACE (${sq(UNCOMMITTED)} AS "_export_id", "Modified_Time" + INTERVAL 1 DAY AS "Modified_Time") FROM read_parquet(${sq(src)})) TO ${sq(out)} (FORMAT parquet)`,
    );
    const partition = page!.slice(0, page!.lastIndexOf('/'));
    await hh.aws.s3.send(
      new PutObjectCommand({
        Bucket: hh.config.BUCKET,
        Key: `${partition}/${UNCOMMITTED}-00001-job.parquet`,
        Body: readFileSync(out),
      }),
    );

    const at = 'CAST(v."id" AS VARCHAR) || \'@\' || CAST(epoch_ms(v."modified_time") AS VARCHAR) AS v';
    const current = (await query(hh, 'zoho_contacts_current', `${at}, v."_export_id"`)).map((r) => r.v);
    expect(current).toEqual(live(hh));
    const history = await query(
      hh,
      'zoho_contacts_history',
      `${at}, v."_is_current", epoch_ms(v."_valid_to") AS valid_to, v."_export_id"`,
    );
    expect(history.map((r) => r.v).sort()).toEqual([...versions].sort());
    expect(history.filter((r) => r._is_current).map((r) => r.v)).toEqual(live(hh));
    expect(history.some((r) => r._export_id === UNCOMMITTED)).toBe(false);
    // The permanently deleted record's version ends at its deletion.
    const deleted = hh.fake.records('Contacts', { from: 6, limit: 1 })[0]!;
    const six = history.filter((r) => String(r.v).startsWith(`${deleted.id}@`));
    expect(six.map((r) => [r._is_current, r.valid_to])).toEqual([[false, String(deleted.deleted!.at)]]);

    // A second full export; then every object of the first one goes: _current answers the same.
    hh.clock.advance(3_600_000);
    const r4 = await api('POST', '/exports', { body: JSON.stringify({ module: 'Contacts' }) });
    expect(r4.status).toBe(201);
    expect((await finish(hh, r4.body.export_id)).status).toBe('COMPLETED');
    const before = await query(hh, 'zoho_contacts_current', at);
    expect(before.map((r) => r.v)).toEqual(live(hh));
    const gone = (await keys(hh, `${hh.config.S3_PREFIX}/`)).filter((k) => k.includes(e1.export_id));
    expect(gone.length).toBeGreaterThan(2);
    for (const Key of gone) await hh.aws.s3.send(new DeleteObjectCommand({ Bucket: hh.config.BUCKET, Key }));
    expect(await query(hh, 'zoho_contacts_current', at)).toEqual(before);
  });
});
