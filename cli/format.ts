/** Human output: numbers, sizes, durations, tables and the text views of exports and jobs. */
import type { ApiExport, ApiJob, ApiModuleList, ApiSchedule } from './types.js';

export const num = (n: number | null | undefined): string =>
  n === null || n === undefined ? '-' : n.toLocaleString('en-US');

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${units[i]}`;
}

export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const pad = (x: number) => String(x).padStart(2, '0');
  return h ? `${h}:${pad(m)}:${pad(sec)}` : `${pad(m)}:${pad(sec)}`;
}

export const s3Uri = (l: { bucket: string; key: string }): string => `s3://${l.bucket}/${l.key}`;

/** A plain left-aligned table with a header row (no colours, no box drawing: easy to grep). */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

const time = (iso: string | null | undefined): string =>
  iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-';

export function exportsTable(list: ApiExport[]): string {
  return table(
    ['EXPORT_ID', 'MODULE', 'STATUS', 'PAGES', 'RECORDS', 'SIZE', 'SOURCE', 'CREATED'],
    list.map((e) => [
      e.export_id,
      e.module ?? '-',
      e.status,
      String(e.pages.length),
      num(e.records),
      bytes(e.bytes),
      e.source,
      time(e.created_at),
    ]),
  );
}

export function modulesTable(list: ApiModuleList['modules']): string {
  return table(
    ['MODULE', 'LABEL', 'KIND', 'PARENT', 'STATUS', 'EXPORTABLE', 'REASON'],
    list.map((m) => [
      m.api_name,
      m.label,
      m.kind,
      m.parent ?? '-',
      m.status ?? '-',
      m.exportable ? 'yes' : 'no',
      m.reason ?? '-',
    ]),
  );
}

export function jobsTable(list: ApiJob[]): string {
  return table(
    ['JOB_ID', 'STATUS', 'ZOHO_STATE', 'MODULE', 'PAGE', 'RECORDS', 'EXPORT_ID', 'UPDATED'],
    list.map((j) => [
      j.job_id,
      j.status,
      j.zoho_state ?? '-',
      j.module ?? '-',
      j.page === null ? '-' : String(j.page),
      num(j.records),
      j.export_id ?? '-',
      time(j.updated_at),
    ]),
  );
}

export function schedulesTable(list: ApiSchedule[]): string {
  return table(
    ['NAME', 'MODULE', 'MODE', 'SCHEDULE', 'TIMEZONE', 'WATERMARK', 'RUNNING', 'LAST_RUN'],
    list.map((s) => [
      s.name,
      s.module ?? modulesCell(s.modules),
      s.mode,
      s.schedule,
      s.timezone,
      s.watermarks ? watermarksCell(s.watermarks) : (s.watermark ?? '-'),
      s.running ? 'yes' : 'no',
      s.last_run
        ? `${s.last_run.export_id ?? s.last_run.snapshot_id ?? '-'} ${s.last_run.status} ${time(s.last_run.started_at)}${s.last_run.failed_modules?.length ? ` (failed: ${s.last_run.failed_modules.join(', ')})` : ''}`
        : '-',
    ]),
  );
}

const modulesCell = (m: ApiSchedule['modules']): string =>
  m === undefined
    ? '-'
    : m === 'all'
      ? 'all'
      : m.length <= 3
        ? m.join(',')
        : `${m.slice(0, 3).join(',')},+${m.length - 3}`;

/** A multi-module schedule's watermarks in one cell: the oldest (the furthest back a next run reads), and how many. */
function watermarksCell(w: Record<string, string | null>): string {
  const set = Object.values(w).filter((v): v is string => v !== null);
  const all = Object.keys(w).length;
  if (!set.length) return '-';
  return `${[...set].sort()[0]} (oldest; ${set.length}/${all} modules)`;
}

const errorLine = (e: { code: string; message: string } | null | undefined): string | undefined =>
  e ? `${e.code}: ${e.message}` : undefined;

export function exportView(e: ApiExport): string {
  const q = e.query;
  const lines = [
    `export    ${e.export_id}`,
    `module    ${e.module ?? '-'}`,
    `status    ${e.status}`,
    `source    ${e.source}`,
    ...(q.fields ? [`fields    ${q.fields.join(',')}`] : []),
    ...(q.criteria ? [`criteria  ${JSON.stringify(q.criteria)}`] : []),
    ...(q.cvid ? [`cvid      ${q.cvid}`] : []),
    `created   ${time(e.created_at)}`,
    `updated   ${time(e.updated_at)}`,
    ...(e.completed_at ? [`completed ${time(e.completed_at)}`] : []),
    `records   ${num(e.records)} (${bytes(e.bytes)}) landed in ${e.pages.filter((p) => p.status === 'EXPORTED').length} of ${e.pages.length} page(s)`,
  ];
  if (e.error) {
    lines.push(`error     ${errorLine(e.error)}${e.error.page ? ` (page ${e.error.page})` : ''}`);
  }
  if (e.pages.length) {
    lines.push('', pagesTable(e));
  }
  if (e.manifest) lines.push('', `manifest  ${s3Uri(e.manifest)}`);
  return lines.join('\n');
}

export function pagesTable(e: ApiExport): string {
  return table(
    ['PAGE', 'JOB_ID', 'STATUS', 'RECORDS', 'SIZE', 'S3'],
    e.pages.map((p) => [
      String(p.page),
      p.job_id,
      p.status,
      num(p.records),
      bytes(p.s3?.bytes),
      p.s3 ? s3Uri(p.s3) : '-',
    ]),
  );
}

export function jobView(j: ApiJob): string {
  const lines = [
    `job        ${j.job_id}`,
    `status     ${j.status}`,
    `zoho state ${j.zoho_state ?? '-'}`,
    `module     ${j.module ?? '-'}`,
    `page       ${j.page ?? '-'}`,
    `export     ${j.export_id ?? '-'}`,
    `records    ${num(j.records)}`,
    `created    ${time(j.created_at)}`,
    `updated    ${time(j.updated_at)}`,
    `attempts   ${j.attempts}`,
  ];
  if (j.next_check_at) lines.push(`next check ${time(j.next_check_at)}`);
  if (j.s3) lines.push(`s3         ${s3Uri(j.s3)} (${bytes(j.s3.bytes)})`);
  if (j.previous_job_id) lines.push(`previous   ${j.previous_job_id}`);
  if (j.next_job_id) lines.push(`next page  ${j.next_job_id}`);
  if (j.error) lines.push(`error      ${errorLine(j.error)}`);
  if (j.last_error) lines.push(`last error ${errorLine(j.last_error)} (retrying)`);
  if (j.follow_up_error) lines.push(`follow-up  ${errorLine(j.follow_up_error)}`);
  return lines.join('\n');
}

/** Where an ended export's data is: one line per page plus the manifest. */
export function landedView(e: ApiExport): string {
  const lines = e.pages
    .filter((p) => p.s3)
    .map((p) => `  ${s3Uri(p.s3!)}  (page ${p.page}, ${num(p.records)} records, ${bytes(p.s3!.bytes)})`);
  if (e.manifest) lines.push(`  manifest ${s3Uri(e.manifest)}`);
  return lines.join('\n');
}
