#!/usr/bin/env node
// The `zoho-export` command (package.json "bin"). From a checkout it runs cli/main.ts through tsx, so
// there is no build step; a published package would ship the compiled dist/cli/main.js (tsc or
// esbuild over cli/), which this runs instead when it is there.
import { existsSync } from 'node:fs';

const built = new URL('../dist/cli/main.js', import.meta.url);
let entry;
if (existsSync(built)) {
  entry = await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  entry = await import('./main.ts');
}
await entry.main();
