/**
 * `zoho-export query "<SQL>"`: SQL over the exported tables. Deployed: Athena, in the stack's workgroup
 * (outputs AthenaWorkGroupName and GlueDatabaseName, or --workgroup/--database). Against the local
 * stack: DuckDB over the local stack's files (lib/query/local.ts), with the same names.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { QueryError } from '../lib/query/errors.js';
import { toCsv, toJson, toTable } from '../lib/query/output.js';
import type { QueryResult } from '../lib/query/values.js';
import { candidateOutputFiles, isLocalUrl } from './api-url.js';
import { type Context, LOCAL_S3 } from './context.js';
import { ApiError, CliError, EXIT, NetworkError, UsageError } from './errors.js';
import { bytes, duration } from './format.js';

export interface QueryFlags {
  csv?: boolean;
  workgroup?: string;
  database?: string;
  athenaEndpoint?: string;
  maxWait: number;
}

const localInfo = z.object({
  s3_endpoint: z.string().url(),
  bucket: z.string().min(1),
  prefix: z.string(),
  database: z.string().regex(/^[A-Za-z0-9_]+$/),
  data_dir: z.string().min(1),
});

const NAME = /^[A-Za-z0-9_.@-]{1,128}$/;

export async function queryCommand(ctx: Context, sql: string, f: QueryFlags): Promise<number> {
  if (!sql.trim())
    throw new UsageError('give the SQL to run, e.g. "SELECT count(*) FROM zoho_crm.zoho_contacts"');
  if (f.csv && ctx.json) throw new UsageError('--json and --csv: choose one');
  if (f.workgroup !== undefined && !NAME.test(f.workgroup))
    throw new UsageError(`--workgroup ${f.workgroup}: not a workgroup name`);
  if (f.database !== undefined && !/^[A-Za-z0-9_]{1,255}$/.test(f.database))
    throw new UsageError(`--database ${f.database}: letters, digits and _`);

  let result: QueryResult;
  try {
    result =
      f.workgroup !== undefined
        ? await runOnAthena(ctx, sql, f, { workGroup: f.workgroup, database: f.database ?? 'zoho_crm' })
        : await (await localOrAthena(ctx, f))(sql);
  } catch (e) {
    throw asCliError(e);
  }
  if (ctx.json) ctx.io.stdout.write(toJson(result));
  else if (f.csv) ctx.io.stdout.write(toCsv(result));
  else ctx.io.stdout.write(toTable(result));
  return EXIT.OK;
}

/** The local stack when the API is on this machine, else the deployed stack's Athena. */
async function localOrAthena(ctx: Context, f: QueryFlags): Promise<(sql: string) => Promise<QueryResult>> {
  const { client } = await ctx.api();
  if (isLocalUrl(client.base) && !client.signer) {
    let raw: unknown;
    try {
      raw = await client.get<unknown>('/local');
    } catch (e) {
      if (e instanceof ApiError && e.status === 404)
        throw new CliError(
          EXIT.API,
          `the API at ${client.base.href} is not a local stack with queries (GET /local: 404); restart npm start`,
          'NOT_LOCAL',
        );
      if (e instanceof NetworkError)
        throw new NetworkError(`${e.message}; is the local stack running (npm start)?`);
      throw e;
    }
    const info = localInfo.safeParse(raw);
    if (!info.success)
      throw new CliError(EXIT.API, 'the local stack answered GET /local with something else', 'BAD_ANSWER');
    return (sql) => runLocally(ctx, sql, f, info.data);
  }
  const target = await stackOutputs(ctx);
  return (sql) =>
    runOnAthena(ctx, sql, f, {
      workGroup: target.workGroup,
      database: f.database ?? target.database ?? 'zoho_crm',
      // The stack's region: CloudFormation's, else the API URL's (execute-api.<region>.amazonaws.com).
      ...((target.region ?? client.signer?.region)
        ? { region: (target.region ?? client.signer?.region)! }
        : {}),
    });
}

async function runLocally(
  ctx: Context,
  sql: string,
  f: QueryFlags,
  info: z.infer<typeof localInfo>,
): Promise<QueryResult> {
  const [{ runLocalQuery }, { S3Client }] = await Promise.all([
    import('../lib/query/local.js'),
    import('@aws-sdk/client-s3'),
  ]);
  const endpoint = ctx.g.s3Endpoint ?? ctx.io.env.ZOHO_EXPORT_S3_ENDPOINT ?? info.s3_endpoint;
  const s3 = new S3Client({
    endpoint,
    region: LOCAL_S3.region,
    forcePathStyle: true,
    credentials: LOCAL_S3.credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 2,
  });
  const started = Date.now();
  try {
    const out = await runLocalQuery(
      {
        s3,
        bucket: info.bucket,
        prefix: info.prefix,
        dataDir: info.data_dir,
        database: f.database ?? info.database,
      },
      sql,
      { warn: (l) => ctx.err(l) },
    );
    if (ctx.g.verbose) {
      ctx.err(
        `local stack: DuckDB over ${info.data_dir} (S3 ${endpoint}); fetched ${out.fetched} object(s), ${bytes(out.fetchedBytes)}, into the cache`,
      );
    }
    ctx.err(`${rowsText(out.rows.length)} in ${seconds(Date.now() - started)} (DuckDB, local stack)`);
    return out;
  } finally {
    s3.destroy();
  }
}

async function runOnAthena(
  ctx: Context,
  sql: string,
  f: QueryFlags,
  target: { workGroup: string; database: string; region?: string },
): Promise<QueryResult> {
  const [{ AthenaClient }, { runAthenaQuery }] = await Promise.all([
    import('@aws-sdk/client-athena'),
    import('../lib/query/athena.js'),
  ]);
  const endpoint = f.athenaEndpoint ?? ctx.io.env.ZOHO_EXPORT_ATHENA_ENDPOINT;
  if (endpoint !== undefined && !/^https?:\/\//.test(endpoint))
    throw new UsageError(`--athena-endpoint is not a URL: ${JSON.stringify(endpoint)}`);
  const region = ctx.g.region ?? target.region ?? ctx.io.env.AWS_REGION ?? ctx.io.env.AWS_DEFAULT_REGION;
  const client = new AthenaClient({
    ...(region ? { region } : {}),
    credentials: ctx.credentials(),
    ...(endpoint ? { endpoint } : {}),
    maxAttempts: 3,
  });
  const tty = !!ctx.io.stderr.isTTY;
  let shown = false;
  try {
    const out = await runAthenaQuery(client, {
      sql,
      workGroup: target.workGroup,
      database: target.database,
      maxWaitMs: f.maxWait * 1000,
      ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
      onProgress: (state, elapsed) => {
        if (!tty) return;
        shown = true;
        ctx.io.stderr.write(`\r\x1b[2K${state} ${duration(elapsed)} (Athena, workgroup ${target.workGroup})`);
      },
    });
    if (shown) ctx.io.stderr.write('\r\x1b[2K');
    const scanned =
      out.dataScannedBytes === undefined ? 'scanned: unknown' : `scanned ${bytes(out.dataScannedBytes)}`;
    ctx.err(
      `${rowsText(out.rows.length)}, ${scanned}, ${seconds(out.engineMs ?? 0)} in Athena (query ${out.queryExecutionId})`,
    );
    return out;
  } catch (e) {
    if (shown) ctx.io.stderr.write('\r\x1b[2K');
    throw e;
  } finally {
    client.destroy();
  }
}

const rowsText = (n: number) => `${n.toLocaleString('en-US')} row${n === 1 ? '' : 's'}`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The workgroup and database the stack put in its outputs: an outputs file, else CloudFormation. */
async function stackOutputs(
  ctx: Context,
): Promise<{ workGroup: string; database?: string; region?: string }> {
  const { stack } = ctx.g;
  const files = ctx.g.outputsFile
    ? [resolve(ctx.io.cwd, ctx.g.outputsFile)]
    : candidateOutputFiles(ctx.io.cwd);
  for (const file of files) {
    if (!existsSync(file)) continue;
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      continue;
    }
    const stacks = z.record(z.string(), z.record(z.string(), z.unknown())).safeParse(data);
    if (!stacks.success) continue;
    const withGroup = Object.values(stacks.data).filter((s) => typeof s.AthenaWorkGroupName === 'string');
    const s = stacks.data[stack]?.AthenaWorkGroupName
      ? stacks.data[stack]
      : withGroup.length === 1
        ? withGroup[0]
        : undefined;
    if (s) {
      return {
        workGroup: String(s.AthenaWorkGroupName),
        ...(typeof s.GlueDatabaseName === 'string' ? { database: s.GlueDatabaseName } : {}),
      };
    }
  }
  const { CloudFormationClient, DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
  const cfn = new CloudFormationClient({
    ...(ctx.g.region ? { region: ctx.g.region } : {}),
    credentials: ctx.credentials(),
    maxAttempts: 2,
  });
  try {
    const region = await cfn.config.region().catch(() => undefined);
    const out = await cfn.send(new DescribeStacksCommand({ StackName: stack }));
    const outputs = out.Stacks?.[0]?.Outputs ?? [];
    const get = (k: string) => outputs.find((o) => o.OutputKey === k)?.OutputValue;
    const workGroup = get('AthenaWorkGroupName');
    if (!workGroup)
      throw new UsageError(
        `stack ${stack} has no AthenaWorkGroupName output: deploy this version, or give --workgroup`,
      );
    const database = get('GlueDatabaseName');
    return { workGroup, ...(database ? { database } : {}), ...(region ? { region } : {}) };
  } catch (e) {
    if (e instanceof CliError) throw e;
    const err = e as Error;
    throw new CliError(
      EXIT.API,
      `cannot read the outputs of stack ${stack} from CloudFormation (${err.name}: ${err.message.split('\n')[0]}); give --workgroup`,
      'NO_STACK',
    );
  } finally {
    cfn.destroy();
  }
}

function asCliError(e: unknown): unknown {
  if (!(e instanceof QueryError)) {
    const name = (e as Error)?.name;
    // The AWS SDK's own failures (credentials, network) while talking to Athena or S3.
    if (name === 'CredentialsProviderError')
      return new NetworkError(`no AWS credentials: ${(e as Error).message}`, 'NO_CREDENTIALS');
    return e;
  }
  const code =
    e.code === 'INTERRUPTED' ? EXIT.INTERRUPTED : e.kind === 'unavailable' ? EXIT.API : EXIT.FAILED;
  return new CliError(code, `query failed: ${e.message}`, e.code);
}
