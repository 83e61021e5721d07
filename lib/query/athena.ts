/**
 * A query on Athena: StartQueryExecution in the stack's workgroup (its result location and encryption
 * are enforced there), GetQueryExecution with backoff until the query ends or the wait runs out
 * (then StopQueryExecution), GetQueryResults page by page, each value mapped by values.ts.
 */
import {
  type AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  type QueryExecution,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { QueryError } from './errors.js';
import { athenaKind, type QueryResult, type QueryValue, valueFromText } from './values.js';

export interface AthenaQuery {
  sql: string;
  workGroup: string;
  database: string;
  /** Longest wait for the query to end, in ms; then it is stopped. */
  maxWaitMs: number;
  /** First and longest pause between two GetQueryExecution calls. */
  pollMs?: { first: number; max: number };
  signal?: AbortSignal;
  /** Each poll: the state and the time since the start. */
  onProgress?: (state: string, elapsedMs: number) => void;
}

export interface AthenaOutcome extends QueryResult {
  queryExecutionId: string;
  dataScannedBytes: number | undefined;
  engineMs: number | undefined;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((ok) => {
    const t = setTimeout(ok, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        ok();
      },
      { once: true },
    );
  });

/** Athena's reason for a FAILED query, without its `FAILED: ` boilerplate. */
const reasonOf = (q: QueryExecution): string =>
  (q.Status?.AthenaError?.ErrorMessage ?? q.Status?.StateChangeReason ?? 'no reason given').trim();

export async function runAthenaQuery(client: AthenaClient, q: AthenaQuery): Promise<AthenaOutcome> {
  const started = Date.now();
  let id: string | undefined;
  try {
    const out = await client.send(
      new StartQueryExecutionCommand({
        QueryString: q.sql,
        WorkGroup: q.workGroup,
        QueryExecutionContext: { Database: q.database },
      }),
    );
    id = out.QueryExecutionId;
  } catch (e) {
    // Athena refuses bad syntax at once (InvalidRequestException); anything else is the service or access.
    const err = e as Error;
    if (err.name === 'InvalidRequestException')
      throw new QueryError('INVALID_QUERY', 'invalid', err.message, e);
    throw new QueryError('ATHENA_ERROR', 'unavailable', `Athena: ${err.name}: ${err.message}`, e);
  }
  if (!id)
    throw new QueryError('ATHENA_ERROR', 'unavailable', 'Athena started no query (no QueryExecutionId)');

  const { first, max } = q.pollMs ?? { first: 250, max: 2000 };
  let pause = first;
  let execution: QueryExecution | undefined;
  for (;;) {
    const got = await client.send(new GetQueryExecutionCommand({ QueryExecutionId: id }));
    execution = got.QueryExecution;
    const state = execution?.Status?.State ?? 'UNKNOWN';
    q.onProgress?.(state, Date.now() - started);
    if (state === 'SUCCEEDED') break;
    if (state === 'FAILED') throw new QueryError('QUERY_FAILED', 'invalid', reasonOf(execution!));
    if (state === 'CANCELLED')
      throw new QueryError('QUERY_CANCELLED', 'terminal', `query ${id} was cancelled`);
    const stop = q.signal?.aborted
      ? 'interrupted'
      : Date.now() - started > q.maxWaitMs
        ? 'timeout'
        : undefined;
    if (stop) {
      await client.send(new StopQueryExecutionCommand({ QueryExecutionId: id })).catch(() => undefined);
      throw stop === 'timeout'
        ? new QueryError(
            'QUERY_TIMEOUT',
            'terminal',
            `query ${id} did not end within ${Math.round(q.maxWaitMs / 1000)} s; it was stopped`,
          )
        : new QueryError('INTERRUPTED', 'terminal', `interrupted; query ${id} was stopped`);
    }
    await sleep(pause, q.signal);
    pause = Math.min(max, Math.round(pause * 1.5));
  }

  const columns: QueryResult['columns'] = [];
  const rows: QueryValue[][] = [];
  let kinds: ReturnType<typeof athenaKind>[] = [];
  // A SELECT's first row is the column labels; DDL and SHOW answers have none.
  let skipHeader = execution?.StatementType === 'DML';
  let token: string | undefined;
  do {
    const page = await client.send(
      new GetQueryResultsCommand({ QueryExecutionId: id, ...(token ? { NextToken: token } : {}) }),
    );
    if (!columns.length) {
      for (const c of page.ResultSet?.ResultSetMetadata?.ColumnInfo ?? []) {
        const type =
          c.Type === 'decimal' && c.Precision !== undefined
            ? `decimal(${c.Precision},${c.Scale ?? 0})`
            : (c.Type ?? 'varchar');
        columns.push({ name: c.Label ?? c.Name ?? `_col${columns.length}`, type });
      }
      kinds = columns.map((c) => athenaKind(c.type));
    }
    for (const r of page.ResultSet?.Rows ?? []) {
      if (skipHeader) {
        skipHeader = false;
        continue;
      }
      rows.push(kinds.map((k, i) => valueFromText(k, r.Data?.[i]?.VarCharValue)));
    }
    token = page.NextToken;
  } while (token);

  return {
    queryExecutionId: id,
    columns,
    rows,
    dataScannedBytes: execution?.Statistics?.DataScannedInBytes,
    engineMs: execution?.Statistics?.EngineExecutionTimeInMillis,
  };
}
