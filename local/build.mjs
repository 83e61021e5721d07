// Builds the local stack into .build/local/ for `npm start` (see local/entries.ts): one ESM bundle per
// process, dependencies included, run on plain node without tsx. Source maps are written beside them
// but not loaded by default (they hold about 20 MB in the process): `NODE_OPTIONS=--enable-source-maps
// npm start` maps stack traces to the TypeScript sources. Takes about a second; `npm start` runs it
// every time, so the bundle never lags the sources.
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { ESM_REQUIRE_SHIM } from '../infra/esm-shim.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, '.build', 'local');

/** The git commit, for the Parquet footer's `created_by` (lib/analytics/created-by.ts); none outside git. */
let BUILD_ID;
try {
  const out = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, stdio: 'pipe' })
    .toString()
    .trim();
  if (/^[0-9a-f]{7,40}$/.test(out)) BUILD_ID = out;
} catch {
  BUILD_ID = undefined;
}

/** Output name -> source; the children are CHILD_SOURCES of local/entries.ts (test/local/bundle.test.ts). */
const ENTRIES = {
  start: 'local/start.ts',
  'convert-worker': 'local/convert-worker.ts',
  'fake-zoho-child': 'local/fake-zoho/child.ts',
};

// Built beside the old bundle, then each file renamed over its old self (atomic on one file system): a
// stack starting from the old bundle while another build runs (two test files, or a second `npm start`)
// never finds a file missing or half written.
const staging = `${outdir}.${process.pid}.tmp`;
await rm(staging, { recursive: true, force: true });
try {
  await build({
    absWorkingDir: root,
    entryPoints: Object.entries(ENTRIES).map(([out, src]) => ({ in: src, out })),
    outdir: staging,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    mainFields: ['module', 'main'],
    sourcemap: true,
    define: { __LOCAL_BUNDLE__: 'true', ...(BUILD_ID ? { __BUILD_ID__: JSON.stringify(BUILD_ID) } : {}) },
    // ESM bundles have no `require` (infra/esm-shim.mjs).
    banner: {
      js: ESM_REQUIRE_SHIM,
    },
    logLevel: 'warning',
  });
} catch {
  // esbuild has printed the errors.
  console.error('npm start: building the local stack failed (see above)');
  await rm(staging, { recursive: true, force: true });
  process.exit(1);
}
await mkdir(outdir, { recursive: true });
const built = await readdir(staging);
for (const f of built) await rename(path.join(staging, f), path.join(outdir, f));
for (const f of await readdir(outdir)) {
  if (!built.includes(f)) await rm(path.join(outdir, f), { force: true });
}
await rm(staging, { recursive: true, force: true });
