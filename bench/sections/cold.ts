/**
 * Section `cold`: every Lambda entry in functions/ bundled like infra/function.ts (esbuild, ESM,
 * minified, source maps, AWS SDK bundled, createRequire banner; target node20 here), module load time of
 * `await import(bundle)` in a fresh node (median of 5, BENCH_QUICK: 3), beside an empty ESM module.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { ESM_REQUIRE_SHIM } from '../../infra/esm-shim.mjs';
import { RESOURCES } from '../../lib/config.js';
import { QUICK, ROOT, tmp } from '../core/config.js';
import { f1, f2, log, row, section } from '../core/report.js';

/** A stand-in value for a resource variable: nothing it names exists, nothing is reached at load. */
function resourceStandIn(name: string): string {
  if (name.endsWith('_TABLE')) return `bench-${name.slice(0, -'_TABLE'.length).toLowerCase()}`;
  if (name.endsWith('_URL')) return 'http://127.0.0.1:9/000000000000/bench-queue';
  if (name.endsWith('_ARN')) return 'arn:aws:secretsmanager:us-east-1:000000000000:secret:bench';
  return `bench-${name.toLowerCase().replaceAll('_', '-')}`;
}

export async function coldSection(): Promise<void> {
  const runs = QUICK ? 3 : 5;
  const dir = path.join(tmp, 'bundles');
  const loader = path.join(tmp, 'load.mjs');
  writeFileSync(
    loader,
    "import { pathToFileURL } from 'node:url';\n" +
      'const t = performance.now();\n' +
      'await import(pathToFileURL(process.argv[2]).href);\n' +
      'process.stdout.write(String(performance.now() - t) + "\\n");\n' +
      'process.exit(0);\n',
  );
  const empty = path.join(dir, 'empty', 'index.mjs');
  mkdirSync(path.dirname(empty), { recursive: true });
  writeFileSync(empty, 'export {};\n');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    // every resource a function may require (lib/config.ts), with a harmless stand-in value
    ...Object.fromEntries(Object.keys(RESOURCES).map((r) => [r, resourceStandIn(r)])),
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_ENDPOINT_URL: 'http://127.0.0.1:9', // nothing may leave this machine, even by accident
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  const loadMs = async (file: string, sourceMaps: boolean): Promise<number> => {
    const times: number[] = [];
    for (let i = -1; i < runs; i++) {
      let out: string;
      try {
        out = execFileSync(process.execPath, [loader, file], {
          env: sourceMaps ? { ...env, NODE_OPTIONS: '--enable-source-maps' } : env,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
          maxBuffer: 64 * 1024 * 1024,
        });
      } catch (e) {
        // the error of a minified bundle quotes a whole line of it: keep the end, where the cause is
        const stderr = String((e as { stderr?: string }).stderr ?? '');
        throw new Error(`loading ${path.relative(tmp, file)} failed:\n${stderr.slice(-1500)}`);
      }
      if (i >= 0) times.push(Number(out.trim())); // run -1 warms the page cache
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)]!;
  };
  const baseline = await loadMs(empty, false);
  const baselineMaps = await loadMs(empty, true);
  section(
    `cold start: esbuild bundle (ESM, minify, sourcemap, node20), median of ${runs} fresh node processes`,
  );
  row({
    measurement: 'empty ESM module load',
    figure: `${f2(baseline)} ms`,
    baseline: `${f2(baselineMaps)} ms w/ maps`,
    target: 'info',
  });
  const entries = readdirSync(path.join(ROOT, 'functions'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.replace(/\.ts$/, ''))
    .sort();
  for (const fn of entries) {
    const outfile = path.join(dir, fn, 'index.mjs');
    log(`cold start: bundling functions/${fn}.ts`);
    await build({
      entryPoints: [path.join(ROOT, 'functions', `${fn}.ts`)],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      minify: true,
      sourcemap: true,
      mainFields: ['module', 'main'],
      banner: { js: ESM_REQUIRE_SHIM },
      logLevel: 'error',
      absWorkingDir: ROOT,
    });
    const kb = statSync(outfile).size / 1024;
    const mapKb = statSync(`${outfile}.map`).size / 1024;
    const ms = await loadMs(outfile, false);
    const msMaps = await loadMs(outfile, true);
    row({
      measurement: `${fn}: bundle size`,
      figure: `${f1(kb)} KB`,
      baseline: `map ${f1(mapKb)} KB`,
      target: 'info',
    });
    row({
      measurement: `${fn}: module load`,
      figure: `${f1(ms)} ms`,
      baseline: `empty ${f2(baseline)} ms`,
      ratio: `${f1(ms / baseline)}x`,
      target: 'info',
    });
    row({
      measurement: `${fn}: module load, --enable-source-maps`,
      figure: `${f1(msMaps)} ms`,
      baseline: `empty ${f2(baselineMaps)} ms`,
      ratio: `${f1(msMaps / baselineMaps)}x`,
      target: 'info',
    });
  }
}
