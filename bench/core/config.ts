/**
 * The runner's flags (environment variables) and shared constants. See bench/README.md.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// The pinned AWS SDK runs on Node 20; its notice about future releases needing Node 22 is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const QUICK = process.env.BENCH_QUICK === '1';
export const LIVE_ZIP = process.env.BENCH_LIVE_ZIP === '1';
/** Runs of each repeated measurement (default 2). */
export const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT ?? 2) || 2);

/**
 * Every section, in the order a full run takes them. `pacing`, `callbacks` and `export1m` take ~5 minutes
 * each whatever the sizes, `snapshot` longer: not in BENCH_QUICK.
 */
export const ALL_SECTIONS = [
  'download',
  'poll',
  'cold',
  'local',
  'pacing',
  'convert',
  'callbacks',
  'export1m',
  'tables',
  'snapshot',
] as const;
export type SectionName = (typeof ALL_SECTIONS)[number];
const SLOW_SECTIONS: readonly SectionName[] = ['pacing', 'callbacks', 'export1m', 'snapshot'];
const QUICK_SECTIONS: readonly SectionName[] = ALL_SECTIONS.filter((s) => !SLOW_SECTIONS.includes(s));

export function selectedSections(): SectionName[] {
  const raw = process.env.BENCH_ONLY?.trim();
  if (!raw) return [...(QUICK ? QUICK_SECTIONS : ALL_SECTIONS)];
  const asked = raw.split(',').map((s) => s.trim());
  const unknown = asked.filter((s) => !(ALL_SECTIONS as readonly string[]).includes(s));
  if (unknown.length) {
    throw new Error(
      `BENCH_ONLY: unknown section(s) ${unknown.join(', ')}; known: ${ALL_SECTIONS.join(', ')}`,
    );
  }
  return ALL_SECTIONS.filter((s) => asked.includes(s));
}

export const MiB = 1024 * 1024;
export const MB = 1e6;

/** The run's temp dir: removed at the end (also on Ctrl-C or a crash). */
export const tmp = mkdtempSync(path.join(tmpdir(), 'zoho-bench-'));
