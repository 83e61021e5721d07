/**
 * Where the local stack's processes start from. `npm start` runs an esbuild bundle of the local stack
 * on plain node (local/build.mjs writes it to .build/local/), because tsx's loader alone holds about
 * 36 MB in every process it runs; the tests and benchmarks import the same sources through tsx. A
 * bundle's modules all see the bundle's `import.meta.url`, so child entries and other files are found
 * from the project root here, never relative to the module that starts them.
 */
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Set to `true` by local/build.mjs (esbuild `define`); undeclared when running from source. */
declare const __LOCAL_BUNDLE__: boolean | undefined;

const BUNDLED = typeof __LOCAL_BUNDLE__ === 'boolean' && __LOCAL_BUNDLE__;

const here = dirname(fileURLToPath(import.meta.url));

/** The repository root: local/.. from source, .build/local/../.. from the bundle. */
export const PROJECT_ROOT = BUNDLED ? resolve(here, '..', '..') : resolve(here, '..');

/** Where local/build.mjs writes the bundles. */
const BUNDLE_DIR = join(PROJECT_ROOT, '.build', 'local');

/**
 * The child processes' entries: the source file each is built from (local/build.mjs builds
 * `<name>.mjs` from it; test/local/bundle.test.ts checks that each one is built).
 */
export const CHILD_SOURCES = {
  'convert-worker': 'local/convert-worker.ts',
  'fake-zoho-child': 'local/fake-zoho/child.ts',
} as const;
export type ChildName = keyof typeof CHILD_SOURCES;

export interface ChildEntry {
  /** The file to fork. */
  path: string;
  /** Node flags for it: tsx's loader when running from source, nothing for a bundle. */
  execArgv: string[];
}

/** How to fork the named child: its bundle next to this one, or its source through tsx. */
export function childEntry(name: ChildName): ChildEntry {
  if (BUNDLED) return { path: join(BUNDLE_DIR, `${name}.mjs`), execArgv: [] };
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return { path: join(PROJECT_ROOT, CHILD_SOURCES[name]), execArgv: ['--import', tsx] };
}

/** s3rver's child entry, plain JavaScript run as it is from source and from the bundle. */
export const S3RVER_CHILD = join(PROJECT_ROOT, 'local', 's3rver-child.mjs');
