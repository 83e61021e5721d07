import { loadSettings, timingFrom } from '../../lib/config.js';
import { DynamoTable } from '../../lib/ddb/dynamo-table.js';
import type { DownloadMessage } from '../../lib/jobs/model.js';
import { JobStore } from '../../lib/jobs/store.js';
import { createLogger, memoryMetrics } from '../../lib/observability.js';
import { pollOnce } from '../../lib/pipeline/poll.js';
import { documentClient } from '../../lib/runtime.js';
import { SETTING_NAMES } from '../../lib/settings.js';
import { TABLES } from '../../lib/tables.js';
import { createZohoClient } from '../../lib/zoho/client.js';
import { TokenBroker } from '../../lib/zoho/token-broker.js';
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
let mints = 0;
const broker = new TokenBroker({
  table: new DynamoTable(ddb, a.stateTable, TABLES.state),
  key: a.tokenKey,
  credentials: fakeCredentials,
  accountsUrl: a.zohoUrl,
  defaultApiDomain: a.zohoUrl,
  onMint: () => {
    mints++;
  },
});
const zoho = createZohoClient({ tokens: broker, apiVersion: config.ZOHO_API_VERSION, apiDomain: a.zohoUrl });
const dispatched: DownloadMessage[] = [];

const t0 = performance.now();
const summary = await pollOnce(
  {
    config,
    timing: timingFrom(config),
    jobs: new JobStore(new DynamoTable(ddb, a.jobsTable, TABLES.jobs)),
    zoho,
    dispatch: async (m) => {
      dispatched.push(m);
    },
    logger: createLogger('bench', 'SILENT'),
    metrics: memoryMetrics(),
  },
  { deadline: Date.now() + 15 * 60_000 },
);
const seconds = (performance.now() - t0) / 1000;
process.stdout.write(
  `${JSON.stringify({ seconds, summary, ddbCalls, ddbMs, byCommand, mints, dispatched: dispatched.length, maxRssBytes: peakRssBytes() })}\n`,
);
process.exit(0);
