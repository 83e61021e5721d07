import { loadSettings } from '../../lib/config.js';
import { DynamoTable } from '../../lib/ddb/dynamo-table.js';
import { MemoryTable } from '../../lib/ddb/memory-table.js';
import type { DownloadMessage } from '../../lib/jobs/model.js';
import { createLogger, memoryMetrics } from '../../lib/observability.js';
import { pollOnce } from '../../lib/pipeline/poll.js';
import { documentClient } from '../../lib/runtime.js';
import { SETTING_NAMES } from '../../lib/settings.js';
import { TABLES } from '../../lib/tables.js';
import { budgetFor, pollDeps, wiringCore } from '../../lib/wiring.js';
import { fakeCredentials } from '../../local/fake-zoho/credentials.js';
import { localDynamoDbClient } from '../../local/stand-ins.js';
import { peakRssBytes } from './rss.js';

export interface PollArgs {
  ddbEndpoint: string;
  jobsTable: string;
  stateTable: string;
  tokenKey: string;
  zohoUrl: string;
  concurrency: number;
}

const a = JSON.parse(process.argv[2] ?? '{}') as PollArgs;
const raw = localDynamoDbClient(a.ddbEndpoint);
const byCommand: Record<string, number> = {};
let ddbCalls = 0;
let ddbMs = 0;
raw.middlewareStack.add(
  (next, context) => async (args) => {
    ddbCalls++;
    const name = context.commandName ?? 'unknown';
    byCommand[name] = (byCommand[name] ?? 0) + 1;
    const t = performance.now();
    try {
      return await next(args);
    } finally {
      ddbMs += performance.now() - t;
    }
  },
  { step: 'initialize', name: 'benchCallCounter' },
);
const ddb = documentClient(raw);
const config = loadSettings(SETTING_NAMES, {
  ZOHO_ACCOUNTS_URL: a.zohoUrl,
  ZOHO_API_DOMAIN: a.zohoUrl,
  POLL_CONCURRENCY: String(a.concurrency),
});
const metrics = memoryMetrics();
// The builders the poll-jobs Lambda uses (lib/wiring.ts), its waits included; only the job pipeline
// is measured (no exports' hooks or sweep).
const core = wiringCore(config, {
  tables: {
    jobs: new DynamoTable(ddb, a.jobsTable, TABLES.jobs),
    // The bench has no exports table: the poller without exports' hooks never touches this one.
    exports: new MemoryTable('bench-exports-unused', TABLES.exports),
    state: new DynamoTable(ddb, a.stateTable, TABLES.state),
  },
  credentials: fakeCredentials,
  logger: createLogger('bench', 'SILENT'),
  metrics,
  budget: budgetFor('poll-jobs'),
  tokenKey: a.tokenKey,
});
const dispatched: DownloadMessage[] = [];

const t0 = performance.now();
const summary = await pollOnce(
  pollDeps(core, {
    dispatch: async (m) => {
      dispatched.push(m);
    },
  }),
  { deadline: Date.now() + 15 * 60_000 },
);
const mints = metrics.counts.TokenMints ?? 0;
const seconds = (performance.now() - t0) / 1000;
process.stdout.write(
  `${JSON.stringify({ seconds, summary, ddbCalls, ddbMs, byCommand, mints, dispatched: dispatched.length, maxRssBytes: peakRssBytes() })}\n`,
);
process.exit(0);
