/** A query result as text: a table for people, one JSON array, or RFC 4180 CSV. */
import { type QueryResult, type QueryValue, rowObjects, uniqueNames } from './values.js';

/** A cell as text: strings as they are, NULL empty, lists and rows as JSON. */
export function cellText(v: QueryValue): string {
  if (v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** One JSON array of row objects keyed by column name, a row per line (valid JSON, easy to grep). */
export function toJson(result: QueryResult): string {
  const rows = rowObjects(result);
  if (!rows.length) return '[]\n';
  return `[\n${rows.map((r) => JSON.stringify(r)).join(',\n')}\n]\n`;
}

/** RFC 4180: a header record, CRLF line ends, a field quoted when it holds `"`, `,`, CR or LF. */
export function toCsv(result: QueryResult): string {
  const field = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
  const lines = [uniqueNames(result.columns).map(field).join(',')];
  for (const r of result.rows)
    lines.push(result.columns.map((_, i) => field(cellText(r[i] ?? null))).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** Aligned columns; NULL shown as NULL (an empty string stays empty); line breaks in a cell shown as \n. */
export function toTable(result: QueryResult): string {
  const header = uniqueNames(result.columns);
  const rows = result.rows.map((r) =>
    header.map((_, i) => {
      const v = r[i] ?? null;
      return v === null ? 'NULL' : cellText(v).replace(/\r?\n/g, '\\n');
    }),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const count = `(${rows.length} row${rows.length === 1 ? '' : 's'})`;
  return `${[line(header), rule, ...rows.map(line), count].join('\n')}\n`;
}
