/**
 * The report: one table (every figure beside its baseline, ratio, target and ok/MISS), notes, and a
 * header with the machine's facts. Sections add rows with `section()` and `row()`.
 */
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { LIVE_ZIP, QUICK, REPEAT } from './config.js';

export interface Row {
  measurement: string;
  figure: string;
  baseline: string;
  ratio: string;
  target: string;
  pass: string;
}

const rows: Row[] = [];
export const notes: string[] = [];

export const row = (r: Partial<Row> & { measurement: string }): void => {
  rows.push({ figure: '-', baseline: '-', ratio: '-', target: '-', pass: '-', ...r });
};
export const section = (title: string): void => {
  rows.push({ measurement: `-- ${title}`, figure: '', baseline: '', ratio: '', target: '', pass: '' });
};
export const log = (s: string): void => {
  process.stderr.write(`[bench] ${s}\n`);
};
export const f0 = (n: number): string => n.toFixed(0);
export const f1 = (n: number): string => n.toFixed(1);
export const f2 = (n: number): string => n.toFixed(2);
export const verdict = (ok: boolean): string => (ok ? 'ok' : 'MISS');

/** The 1, 5 and 15 minute load averages, e.g. "2.31 1.95 1.40". */
export const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** Load average at the start of each section, for the header. */
const loads: string[] = [];
export function noteLoad(what: string): void {
  loads.push(`${what} ${load()}`);
  log(`${what}: load average ${load()}`);
}

export function machine(): string[] {
  let model = 'unknown';
  try {
    model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? model;
  } catch {
    // not Linux
  }
  return [
    `date:    ${new Date().toISOString()}`,
    `cpu:     ${model}, ${cpus().length} cores`,
    `memory:  ${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    `node:    ${process.version} (kernel ${release()})`,
    `mode:    ${QUICK ? 'BENCH_QUICK=1 (small sizes)' : 'full'}${LIVE_ZIP ? ', BENCH_LIVE_ZIP=1' : ''}, repeat ${REPEAT}`,
    `load:    ${load()} (1, 5, 15 min) now`,
  ];
}

export function printTable(out: NodeJS.WritableStream = process.stdout): void {
  const head: Row = {
    measurement: 'measurement',
    figure: 'figure',
    baseline: 'baseline',
    ratio: 'ratio',
    target: 'target',
    pass: 'pass',
  };
  const cols = Object.keys(head) as (keyof Row)[];
  const width = Object.fromEntries(
    cols.map((c) => [
      c,
      Math.max(
        head[c].length,
        ...rows.filter((r) => !r.measurement.startsWith('--')).map((r) => r[c].length),
      ),
    ]),
  ) as Record<keyof Row, number>;
  const line = (r: Row): string =>
    cols
      .map((c) => r[c].padEnd(width[c]))
      .join(' | ')
      .trimEnd();
  const lines = [line(head), cols.map((c) => '-'.repeat(width[c])).join('-+-')];
  for (const r of rows) lines.push(r.measurement.startsWith('--') ? r.measurement : line(r));
  out.write(`${lines.join('\n')}\n`);
}

/** Header, table, notes and the units legend, on stdout. */
export function printReport(totalSeconds: number): void {
  const out = process.stdout;
  out.write(`\n${machine().join('\n')}\n`);
  if (loads.length) out.write(`load at section starts: ${loads.join('; ')}\n`);
  out.write(`total:   ${f1(totalSeconds)} s\n\n`);
  printTable(out);
  if (notes.length) out.write(`\nnotes:\n${notes.map((n) => `  - ${n}`).join('\n')}\n`);
  out.write(
    '\nMiB/s = MiB of CSV (unzipped) per second; MB = 10^6 bytes; peak RSS = VmHWM of the measuring child process\n' +
      '(local stack: of the named process of `npm start`, read from /proc/<pid>/status).\n' +
      "The fake's padding column is free text from a 1 MiB word pool: each ZIP compresses about 3.5:1, as a real export does.\n",
  );
}
