import pkg from '../../package.json' with { type: 'json' };

/** Set by the bundlers (infra/function.ts, local/build.mjs) to the git commit being built, when known. */
declare const __BUILD_ID__: string | undefined;

/** The build token when the commit was not known at build time (tests, tsx, a tree without git). */
export const UNKNOWN_BUILD = 'unknown';

const build =
  typeof __BUILD_ID__ === 'string' && /^[0-9a-f]{7,40}$/.test(__BUILD_ID__) ? __BUILD_ID__ : UNKNOWN_BUILD;

/**
 * The Parquet footer's `created_by`, in the `<app> version <x.y.z> (build <id>)` form that
 * parquet-java's VersionParser (Spark, Hive, Trino/Athena) parses: readers decide from it which
 * writer bugs to work around, and a form they cannot parse is logged as a warning on every file.
 */
export const CREATED_BY = `${pkg.name} version ${pkg.version} (build ${build})`;
