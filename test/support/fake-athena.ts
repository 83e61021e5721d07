/**
 * A small Athena for tests: the AWS JSON 1.1 protocol (`X-Amz-Target: AmazonAthena.<Operation>`) for
 * StartQueryExecution, GetQueryExecution, GetQueryResults (paged, the header row first, as Athena's) and
 * StopQueryExecution, running the SQL in DuckDB. A query is QUEUED, then RUNNING, then ends, one state
 * per GetQueryExecution, so a client has to poll.
 */
import { createServer, type Server } from 'node:http';
import { DuckDBInstance, type DuckDBType, DuckDBTypeId } from '@duckdb/node-api';

interface Execution {
  id: string;
  sql: string;
  workGroup: string;
  database: string;
  polls: number;
  stopped: boolean;
  error?: string;
  columns: Array<{ Name: string; Label: string; Type: string; Precision?: number; Scale?: number }>;
  rows: Array<Array<string | null>>;
}

export interface FakeAthena {
  url: string;
  executions: Execution[];
  /** Each request's operation, in order. */
  calls: string[];
  close(): Promise<void>;
}

function athenaType(t: DuckDBType): { Type: string; Precision?: number; Scale?: number } {
  switch (t.typeId) {
    case DuckDBTypeId.BIGINT:
      return { Type: 'bigint' };
    case DuckDBTypeId.INTEGER:
      return { Type: 'integer' };
    case DuckDBTypeId.DOUBLE:
      return { Type: 'double' };
    case DuckDBTypeId.BOOLEAN:
      return { Type: 'boolean' };
    case DuckDBTypeId.DATE:
      return { Type: 'date' };
    case DuckDBTypeId.TIMESTAMP:
      return { Type: 'timestamp' };
    case DuckDBTypeId.DECIMAL: {
      const m = /DECIMAL\((\d+),(\d+)\)/.exec(t.toString());
      return { Type: 'decimal', Precision: Number(m?.[1]), Scale: Number(m?.[2]) };
    }
    default:
      return { Type: 'varchar' };
  }
}

/** `setupSql` builds the data (schemas and tables) the queries run on. */
export async function startFakeAthena(setupSql: string, pageSize = 2): Promise<FakeAthena> {
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  await con.run("SET TimeZone = 'UTC'");
  await con.run(setupSql);
  const executions: Execution[] = [];
  const calls: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const op = String(req.headers['x-amz-target'] ?? '').replace(/^AmazonAthena\./, '');
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      calls.push(op);
      const send = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(value));
      };
      const find = () => executions.find((e) => e.id === body.QueryExecutionId);
      handle(op, body, find, send).catch((e: Error) =>
        send(500, { __type: 'InternalServerException', message: e.message }),
      );
    });
  });

  async function handle(
    op: string,
    body: Record<string, unknown>,
    find: () => Execution | undefined,
    send: (status: number, value: unknown) => void,
  ): Promise<void> {
    if (op === 'StartQueryExecution') {
      const sql = String(body.QueryString);
      const ctx = body.QueryExecutionContext as { Database?: string } | undefined;
      if (/^\s*SELEC\b/i.test(sql)) {
        // Athena refuses some syntax at once.
        send(400, { __type: 'InvalidRequestException', Message: "line 1:1: mismatched input 'SELEC'" });
        return;
      }
      const e: Execution = {
        id: `q-${executions.length + 1}`,
        sql,
        workGroup: String(body.WorkGroup),
        database: ctx?.Database ?? 'default',
        polls: 0,
        stopped: false,
        columns: [],
        rows: [],
      };
      try {
        await con.run(`SET search_path = '${e.database}'`);
        const r = await con.runAndReadAll(sql);
        const types = r.columnTypes();
        e.columns = r.columnNames().map((n, i) => ({ Name: n, Label: n, ...athenaType(types[i]!) }));
        e.rows = r
          .getRowsJson()
          .map((row) =>
            row.map((v) => (v === null ? null : typeof v === 'object' ? JSON.stringify(v) : String(v))),
          );
      } catch (err) {
        e.error = (err as Error).message.split('\n')[0];
      }
      executions.push(e);
      send(200, { QueryExecutionId: e.id });
      return;
    }
    const e = find();
    if (!e) {
      send(400, { __type: 'InvalidRequestException', Message: 'QueryExecution not found' });
      return;
    }
    if (op === 'GetQueryExecution') {
      e.polls++;
      const state = e.stopped
        ? 'CANCELLED'
        : e.polls === 1
          ? 'QUEUED'
          : e.polls === 2
            ? 'RUNNING'
            : e.error
              ? 'FAILED'
              : 'SUCCEEDED';
      send(200, {
        QueryExecution: {
          QueryExecutionId: e.id,
          Query: e.sql,
          StatementType: 'DML',
          WorkGroup: e.workGroup,
          QueryExecutionContext: { Database: e.database },
          Status: {
            State: state,
            ...(state === 'FAILED'
              ? { StateChangeReason: e.error, AthenaError: { ErrorCategory: 2, ErrorMessage: e.error } }
              : {}),
          },
          Statistics: { DataScannedInBytes: 1536 * e.rows.length, EngineExecutionTimeInMillis: 1234 },
        },
      });
      return;
    }
    if (op === 'GetQueryResults') {
      const all = [e.columns.map((c) => c.Label), ...e.rows];
      const start = body.NextToken ? Number(body.NextToken) : 0;
      const page = all.slice(start, start + pageSize);
      const next = start + pageSize < all.length ? String(start + pageSize) : undefined;
      send(200, {
        ResultSet: {
          Rows: page.map((r) => ({ Data: r.map((v) => (v === null ? {} : { VarCharValue: v })) })),
          ResultSetMetadata: {
            ColumnInfo: e.columns.map((c) => ({ ...c, Nullable: 'UNKNOWN', CaseSensitive: false })),
          },
        },
        ...(next ? { NextToken: next } : {}),
        UpdateCount: 0,
      });
      return;
    }
    if (op === 'StopQueryExecution') {
      e.stopped = true;
      send(200, {});
      return;
    }
    send(400, { __type: 'UnknownOperationException', Message: op });
  }

  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    executions,
    calls,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
        con.closeSync();
      }),
  };
}
