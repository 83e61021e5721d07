/**
 * Candidate Parquet writers behind lib/analytics' writer interface, for bench/convert.ts's comparison
 * only (the product writes with lib/analytics/parquet.ts).
 */
import { createReadStream, rmSync } from 'node:fs';
import path from 'node:path';
import {
  type CellValue,
  type ColumnData,
  type ColumnType,
  type ParquetWriterFactory,
  toCellValues,
} from '../../lib/analytics/index.js';

const MiB = 1024 * 1024;

/**
 * The DuckDB candidate behind the same writer interface: rows appended (appender) to a table in an
 * on-disk database in the temp dir (so it may spill), one `COPY … TO parquet` at the end, the file
 * then streamed to `out`. Needs the native 61 MB library in the bundle.
 */
export async function duckdbWriterFactory(workDir: string): Promise<ParquetWriterFactory> {
  const duck = await import('@duckdb/node-api');
  const db = await duck.DuckDBInstance.create(path.join(workDir, 'writer.duckdb'));
  const con = await db.connect();
  await con.run('SET threads=1');
  const sqlType = (t: ColumnType): string => {
    switch (t.kind) {
      case 'string':
        return 'VARCHAR';
      case 'int64':
        return 'BIGINT';
      case 'double':
        return 'DOUBLE';
      case 'decimal':
        return `DECIMAL(${t.precision},${t.scale})`;
      case 'boolean':
        return 'BOOLEAN';
      case 'date':
        return 'DATE';
      case 'timestamp':
        return 'TIMESTAMPTZ';
      case 'list':
        return 'VARCHAR[]';
    }
  };
  const listType = duck.LIST(duck.VARCHAR);
  return ({ columns, compression, out }) => {
    const ident = (s: string): string => `"${s.replaceAll('"', '""')}"`;
    const ready = con.run(
      `CREATE TABLE t (${columns.map((c) => `${ident(c.name)} ${sqlType(c.type)}`).join(', ')})`,
    );
    let appender: Awaited<ReturnType<typeof con.createAppender>> | null = null;
    const kinds = columns.map((c) => c.type);
    return {
      async writeRowGroup(group) {
        await ready;
        appender ??= await con.createAppender('t');
        const a = appender;
        const cells = group.columns.map(toCellValues);
        for (let r = 0; r < group.rows; r++) {
          for (let c = 0; c < kinds.length; c++) {
            const v = (cells[c] as CellValue[])[r] ?? null;
            const t = kinds[c] as ColumnType;
            if (v === null) a.appendNull();
            else if (t.kind === 'string') a.appendVarchar(v as string);
            else if (t.kind === 'int64') a.appendBigInt(v as bigint);
            else if (t.kind === 'double') a.appendDouble(v as number);
            else if (t.kind === 'decimal')
              a.appendDecimal(new duck.DuckDBDecimalValue(v as bigint, t.precision, t.scale));
            else if (t.kind === 'boolean') a.appendBoolean(v as boolean);
            else if (t.kind === 'date') a.appendDate(new duck.DuckDBDateValue(v as number));
            else if (t.kind === 'timestamp')
              a.appendTimestampTZ(new duck.DuckDBTimestampTZValue(BigInt(v as number) * 1000n));
            else a.appendList(v as string[], listType);
          }
          a.endRow();
        }
        a.flushSync();
      },
      async finish() {
        await ready;
        appender?.closeSync();
        const file = path.join(workDir, 'writer-out.parquet');
        await con.run(`COPY t TO '${file}' (FORMAT parquet, COMPRESSION ${compression.toLowerCase()})`);
        for await (const chunk of createReadStream(file, { highWaterMark: MiB })) {
          await out.write(chunk as Buffer);
        }
        rmSync(file, { force: true });
      },
    };
  };
}

/**
 * The parquet-wasm candidate: each row group becomes an Arrow table (apache-arrow), crosses into
 * WASM as Arrow IPC, and is fed to `transformParquetStream`; its output stream goes to `out`.
 * (Its stream loop discards write errors: see the reference notes.)
 */
export async function parquetWasmWriterFactory(): Promise<ParquetWriterFactory> {
  const pw = await import('parquet-wasm');
  const arrow = await import('apache-arrow');
  const arrowType = (t: ColumnType) => {
    switch (t.kind) {
      case 'string':
        return new arrow.Utf8();
      case 'int64':
        return new arrow.Int64();
      case 'double':
        return new arrow.Float64();
      case 'decimal':
        return new arrow.Decimal(t.scale, t.precision, 128);
      case 'boolean':
        return new arrow.Bool();
      case 'date':
        return new arrow.DateDay();
      case 'timestamp':
        return new arrow.TimestampMillisecond('UTC');
      case 'list':
        return new arrow.List(new arrow.Field('element', new arrow.Utf8(), true));
    }
  };
  return ({ columns, compression, out }) => {
    const fields = columns.map((c) => new arrow.Field(c.name, arrowType(c.type), true));
    const schema = new arrow.Schema(fields);
    let controller: ReadableStreamDefaultController<unknown> | null = null;
    let pulled: (() => void) | null = null;
    const input = new ReadableStream<unknown>({
      start(c) {
        controller = c;
      },
      pull() {
        const p = pulled;
        pulled = null;
        p?.();
      },
    });
    const props = new pw.WriterPropertiesBuilder()
      .setCompression(compression === 'ZSTD' ? pw.Compression.ZSTD : pw.Compression.SNAPPY)
      .build();
    const pumped = (async () => {
      const output = await pw.transformParquetStream(input as never, props);
      const reader = (output as ReadableStream<Uint8Array>).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        await out.write(value);
      }
    })();
    return {
      async writeRowGroup(group) {
        const vectors: Record<string, ReturnType<typeof arrow.makeVector>> = {};
        columns.forEach((c, i) => {
          const data = toCellValues(group.columns[i] as ColumnData);
          const type = arrowType(c.type);
          let values: unknown[] = data;
          if (c.type.kind === 'decimal') {
            // Decimal128 vectors take little-endian 4×32-bit words per value.
            values = data.map((v) => {
              if (v === null) return null;
              const w = new Uint32Array(4);
              let x = BigInt.asUintN(128, v as bigint);
              for (let k = 0; k < 4; k++) {
                w[k] = Number(x & 0xffffffffn);
                x >>= 32n;
              }
              return w;
            });
          }
          vectors[c.name] = arrow.vectorFromArray(values, type as never) as never;
        });
        const table = new arrow.Table(schema, vectors as never);
        const wasmTable = pw.Table.fromIPCStream(arrow.tableToIPC(table, 'stream'));
        for (const batch of wasmTable.recordBatches()) {
          const wait = new Promise<void>((resolve) => {
            pulled = resolve;
          });
          controller?.enqueue(batch);
          await wait;
        }
      },
      async finish() {
        controller?.close();
        await pumped;
      },
    };
  };
}
