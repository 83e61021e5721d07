/**
 * ESM bundles have no `require`, yet some CommonJS dependencies inside a bundle still call it: every
 * esbuild bundle of this project (the Lambdas, the local stack, the benches) starts with this banner.
 * Plain JavaScript so local/build.mjs can import it without a TypeScript loader; typed by esm-shim.d.mts.
 * The alias keeps it from clashing with a `createRequire` the bundle imports itself.
 */
export const ESM_REQUIRE_SHIM =
  "import { createRequire as __bundleCreateRequire } from 'module'; const require = __bundleCreateRequire(import.meta.url);";
