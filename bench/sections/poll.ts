/**
 * Section `poll`: one `pollOnce` tick over N due jobs that all answer IN PROGRESS after 50 ms
 * (bench/workers/poll-worker.ts, fake Zoho in its own process), beside the ideal N x 50 ms / concurrency.
 */
import { DynamoTable } from '../../lib/ddb/dynamo-table.js';
import { JobStore } from '../../lib/jobs/store.js';
import { documentClient } from '../../lib/runtime.js';
import { TABLES } from '../../lib/tables.js';
import { localDynamoDbClient } from '../../local/stand-ins.js';
import { MB, QUICK } from '../core/config.js';
import { ensureDdb, tables } from '../core/ddb.js';
import { runWorker, startFakeChild } from '../core/procs.js';
import { f1, f2, log, notes, row, section, verdict } from '../core/report.js';
import type { PollArgs } from '../workers/poll-worker.js';

interface PollResult {
  seconds: number;
  summary: { checked: number; pending: number; skipped: number; retried: number; stoppedEarly: boolean };
  ddbCalls: number;
  ddbMs: number;
  byCommand: Record<string, number>;
  mints: number;
  maxRssBytes: number;
}
interface FakeStats {
  mints: number;
  statusCalls: number;
  statusJobs: number;
  statusMin: number;
  statusMax: number;
}

export async function pollSection(): Promise<void> {
  const sizes = QUICK ? [200, 1000] : [1000, 10_000];
  const concurrency = 5;
  const delayMs = 50;
  const ddbEndpoint = await ensureDdb();
  log('starting the fake Zoho for the poll ticks (child process)');
  const fake = await startFakeChild();
  await fake.call('inject', {
    fault: { kind: 'status', times: 'Infinity', action: { type: 'delay', ms: delayMs } },
  });
  let stateTable = '';
  let workerMints = 0;
  for (const n of sizes) {
    const t = await tables(`bench-poll-${n}`);
    stateTable ||= t.stateTable; // one token cache for the whole run
    log(`poll ${n}: seeding jobs at the fake and registering them (untimed)`);
    const { ids } = await fake.call<{ ids: string[] }>('addJobs', {
      n,
      spec: {
        totalRecords: 1000,
        timeline: { queuedAfterMs: 0, inProgressAfterMs: 0, completedAfterMs: 1e12 },
      },
    });
    const raw = localDynamoDbClient(ddbEndpoint);
    const store = new JobStore(new DynamoTable(documentClient(raw), t.jobsTable, TABLES.jobs));
    for (let i = 0; i < ids.length; i += 50) {
      await Promise.all(ids.slice(i, i + 50).map((id) => store.register(id, { module: 'Contacts' })));
    }
    raw.destroy();
    await new Promise((r) => setTimeout(r, 5)); // every next_check_at is now in the past
    await fake.call('clearRequests');
    const before = await fake.call<FakeStats>('stats');
    log(`poll ${n}: one pollOnce tick`);
    const r = await runWorker<PollResult>('poll-worker.ts', {
      ddbEndpoint,
      jobsTable: t.jobsTable,
      stateTable,
      tokenKey: 'zoho-token#bench-poll',
      zohoUrl: fake.fakeUrl,
      concurrency,
    } satisfies PollArgs);
    const after = await fake.call<FakeStats>('stats');
    workerMints += r.mints;
    if (r.summary.pending !== n) {
      notes.push(`poll ${n}: tick summary ${JSON.stringify(r.summary)} (expected ${n} pending)`);
    }
    const ideal = (n * delayMs) / concurrency / 1000;
    const ratio = r.seconds / ideal;
    const statusCalls = after.statusCalls - before.statusCalls;
    section(
      `poll tick, ${n.toLocaleString('en')} due jobs, Zoho answers after ${delayMs} ms, concurrency ${concurrency}`,
    );
    row({
      measurement: `poll ${n} jobs: tick time`,
      figure: `${f2(r.seconds)} s`,
      baseline: `ideal ${f2(ideal)} s`,
      ratio: `${f2(ratio)}x`,
      target: '<= 1.3x',
      pass: verdict(ratio <= 1.3),
    });
    row({
      measurement: `poll ${n} jobs: Zoho status calls per job`,
      figure: `${f2(statusCalls / n)} (min ${after.statusMin}, max ${after.statusMax}, ${after.statusJobs} jobs)`,
      baseline: '1',
      target: '= 1',
      pass: verdict(
        statusCalls === n && after.statusMin === 1 && after.statusMax === 1 && after.statusJobs === n,
      ),
    });
    row({
      measurement: `poll ${n} jobs: DynamoDB calls per job`,
      figure: `${f2(r.ddbCalls / n)} (${r.ddbCalls} total)`,
      baseline: `${Object.entries(r.byCommand)
        .map(([k, v]) => `${k.replace(/Command$/, '')} ${v}`)
        .join(', ')}`,
      target: 'info',
    });
    row({
      measurement: `poll ${n} jobs: DynamoDB time per job`,
      figure: `${f1(r.ddbMs / n)} ms`,
      baseline: `status delay ${delayMs} ms`,
      ratio: `${f2(r.ddbMs / n / delayMs)}x`,
      target: 'info',
    });
    notes.push(
      `poll ${n}: worker peak RSS ${f1(r.maxRssBytes / MB)} MB; summary ${JSON.stringify(r.summary)}`,
    );
  }
  const final = await fake.call<FakeStats>('stats');
  section('poll: tokens');
  row({
    measurement: 'poll: token mints for the whole run',
    figure: `${final.mints} (broker onMint ${workerMints})`,
    baseline: '1',
    target: '= 1',
    pass: verdict(final.mints === 1),
  });
  await fake.stop();
}
