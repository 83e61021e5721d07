/**
 * `npm run bench` (= `tsx bench/run.ts`): throughput, memory, pacing, poll cost, conversion and cold
 * start of the exporter, each figure beside a baseline measured in the same run and a target. Not part
 * of `npm test`. Talks only to 127.0.0.1; every child process and temp file is removed at the end (also
 * on Ctrl-C or a crash). See bench/README.md for the sections and the layout.
 *
 * Flags (environment variables):
 *   BENCH_ONLY=a,b     sections: download, poll, cold, local, pacing, convert, callbacks, export1m, tables,
 *                      snapshot (default: all; with BENCH_QUICK all but pacing, callbacks, export1m and
 *                      snapshot, which take minutes whatever the sizes)
 *   BENCH_QUICK=1      small sizes for a quick check
 *   BENCH_REPEAT=n     runs of each repeated measurement (default 2; download: best, new sections: median)
 *   BENCH_LIVE_ZIP=1   download section: the fake Zoho deflates every download on the fly
 *   BENCH_TABLES_RECORDS=n, BENCH_TABLES_RUNS=n  tables section: records of the full export (1,000,000;
 *                      quick 100,000) and incremental exports after it (30; quick 5)
 *   BENCH_SNAPSHOT_RECORDS=n, BENCH_SNAPSHOT_MAX_JOBS=n  snapshot section: records over its 30 modules
 *                      (3,000,000; quick 30,000) and the jobs-at-once cap (ZOHO_MAX_CONCURRENT_JOBS and the
 *                      fake's limit; default 10)
 *   BENCH_TABLES_PLAN=1  tables section: DuckDB's EXPLAIN ANALYZE of the counted queries on stderr
 *   BENCH_PROFILE=dir  local section: every node process of `npm start` writes a V8 CPU profile to dir (bench/core/profile-preload.cjs)
 *                      (summarise one with `npx tsx bench/profile-summary.ts <file>`)
 */
import { type SectionName, selectedSections } from './core/config.js';
import { cleanup, installCleanupHandlers } from './core/procs.js';
import { log, machine, noteLoad, notes, printReport, row, section } from './core/report.js';
import { callbacksSection } from './sections/callbacks.js';
import { coldSection } from './sections/cold.js';
import { convertSection } from './sections/convert.js';
import { downloadSection } from './sections/download.js';
import { export1mSection } from './sections/export1m.js';
import { localSection } from './sections/local.js';
import { pacingSection } from './sections/pacing.js';
import { pollSection } from './sections/poll.js';
import { snapshotSection } from './sections/snapshot.js';
import { tablesSection } from './sections/tables.js';

const SECTIONS: Record<SectionName, () => Promise<void>> = {
  download: downloadSection,
  poll: pollSection,
  cold: coldSection,
  local: localSection,
  pacing: pacingSection,
  convert: convertSection,
  callbacks: callbacksSection,
  export1m: export1mSection,
  tables: tablesSection,
  snapshot: snapshotSection,
};

installCleanupHandlers();
const started = performance.now();
let failed = false;
try {
  const chosen = selectedSections();
  for (const l of machine()) log(l);
  log(`sections: ${chosen.join(', ')}`);
  for (const name of chosen) {
    noteLoad(name);
    try {
      await SECTIONS[name]();
    } catch (e) {
      // one failed section does not cost the others' figures; the run still exits 1
      failed = true;
      const msg = String((e as Error)?.message ?? e);
      process.stderr.write(`[bench] section ${name} FAILED: ${(e as Error)?.stack ?? e}\n`);
      section(`${name}: FAILED`);
      row({ measurement: `${name} section`, figure: 'failed', target: 'runs', pass: 'MISS' });
      notes.push(`section ${name} failed: ${msg.split('\n').slice(0, 3).join(' ').slice(0, 400)}`);
    }
  }
} catch (e) {
  failed = true;
  process.stderr.write(`[bench] FAILED: ${(e as Error)?.stack ?? e}\n`);
} finally {
  await cleanup();
}
printReport((performance.now() - started) / 1000);
process.exit(failed ? 1 : 0);
