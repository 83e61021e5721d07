/** One DynamoDB Local for the download and poll sections (in memory), with tables per measurement. */
import { createTables, localDynamoDbClient, startDynamoDbLocal } from '../../local/stand-ins.js';
import { services } from './procs.js';
import { log } from './report.js';

let endpoint = '';

export async function ensureDdb(): Promise<string> {
  if (endpoint) return endpoint;
  log('starting DynamoDB Local');
  const ddb = await startDynamoDbLocal();
  services.push(ddb);
  endpoint = ddb.endpoint;
  return endpoint;
}

export async function tables(prefix: string): Promise<{ jobsTable: string; stateTable: string }> {
  const raw = localDynamoDbClient(await ensureDdb());
  try {
    const names = await createTables(raw, prefix);
    return { jobsTable: names.jobs, stateTable: names.state };
  } finally {
    raw.destroy();
  }
}
