/**
 * Builds bench/convert/worker.ts into one ESM file with esbuild (as a Lambda is bundled). The bundle
 * lives under the repo (.tmp/, git-ignored) so that its externals (DuckDB's native module, the WASM
 * candidates) resolve from node_modules.
 */
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESM_REQUIRE_SHIM } from '../../infra/esm-shim.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');

/** Bundles the worker into `.tmp/<dirName>/worker.mjs`; returns its path and a remover. */
export async function bundleConvertWorker(
  dirName = 'bench-convert',
): Promise<{ file: string; remove: () => void }> {
  const dir = path.join(REPO, '.tmp', dirName);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'worker.mjs');
  const { build } = await import('esbuild');
  await build({
    entryPoints: [path.join(HERE, 'worker.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: file,
    external: ['@duckdb/node-api', 'parquet-wasm', 'apache-arrow', 'csv-parse', 'esbuild'],
    banner: { js: ESM_REQUIRE_SHIM },
    logLevel: 'warning',
  });
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
