/**
 * Which API to talk to, first match wins:
 *   1. `--api <url>`
 *   2. `ZOHO_EXPORT_API`
 *   3. the `ApiUrl` output of the stack in a CDK outputs file (`--outputs-file`, else `outputs.json` or
 *      `cdk.out/outputs.json` in the working directory or the checkout), as
 *      `npx cdk deploy --outputs-file outputs.json` writes it
 *   4. CloudFormation `DescribeStacks` on `--stack` (default ZohoCrmBulkExport), when an AWS region is
 *      configured (`--region`, AWS_REGION, the profile)
 *   5. the local stack, http://127.0.0.1:3000
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from './errors.js';
import type { CredentialProvider } from './signing.js';

export const DEFAULT_STACK = 'ZohoCrmBulkExport';
export const LOCAL_API = 'http://127.0.0.1:3000';

export type ApiSource = 'flag' | 'env' | 'outputs' | 'cloudformation' | 'local';

export interface ResolvedApi {
  url: string;
  source: ApiSource;
  /** Where it came from, for --verbose: the file, the stack and region, ... */
  detail: string;
}

export interface ResolveOptions {
  api?: string;
  env: NodeJS.ProcessEnv;
  stack: string;
  cwd: string;
  outputsFile?: string;
  region?: string;
  /** Looks the stack's ApiUrl up in CloudFormation (injected by tests). */
  describeStack?: (stack: string, region?: string) => Promise<StackLookup>;
  /** Files to try for step 3 when no --outputs-file (default: see candidateOutputFiles). */
  outputFiles?: string[];
  warn?: (line: string) => void;
}

export type StackLookup =
  | { found: true; url: string; region: string }
  | { found: false; reason: 'no-region' | 'not-found' | 'no-output' | 'error'; message?: string };

/** The checkout this CLI runs from (two levels above cli/main.ts, or dist/cli/main.js). */
const checkoutRoot = (): string => {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['..', '../..']) {
    const dir = resolve(here, up);
    if (existsSync(join(dir, 'cdk.json'))) return dir;
  }
  return resolve(here, '..');
};

export function candidateOutputFiles(cwd: string): string[] {
  const dirs = [...new Set([resolve(cwd), checkoutRoot()])];
  return dirs.flatMap((d) => [join(d, 'outputs.json'), join(d, 'cdk.out', 'outputs.json')]);
}

export function normalizeApiUrl(raw: string, what: string): string {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    throw new UsageError(
      `${what} is not a URL: ${JSON.stringify(raw)} (e.g. https://abc123.execute-api.eu-west-1.amazonaws.com)`,
    );
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new UsageError(`${what} must be an http(s) URL, got ${u.protocol}`);
  }
  u.search = '';
  u.hash = '';
  return u.href.replace(/\/+$/, '');
}

/** The ApiUrl of `stack` in a CDK outputs file, or undefined (missing file, other stacks, bad JSON). */
export function apiUrlFromOutputs(
  file: string,
  stack: string,
  warn?: (l: string) => void,
): string | undefined {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    warn?.(`note: ignoring ${file}: ${(e as Error).message.split('\n')[0]}`);
    return undefined;
  }
  if (!data || typeof data !== 'object') return undefined;
  const stacks = data as Record<string, Record<string, unknown> | undefined>;
  const named = stacks[stack]?.ApiUrl;
  if (typeof named === 'string') return named;
  const withUrl = Object.values(stacks).filter((s) => typeof s?.ApiUrl === 'string');
  // One stack in the file (deployed under another name): that one.
  return withUrl.length === 1 ? (withUrl[0]!.ApiUrl as string) : undefined;
}

export async function resolveApiUrl(o: ResolveOptions): Promise<ResolvedApi> {
  if (o.api !== undefined) return { url: normalizeApiUrl(o.api, '--api'), source: 'flag', detail: '--api' };
  const env = o.env.ZOHO_EXPORT_API;
  if (env !== undefined && env.trim() !== '') {
    return { url: normalizeApiUrl(env, 'ZOHO_EXPORT_API'), source: 'env', detail: 'ZOHO_EXPORT_API' };
  }
  if (o.outputsFile !== undefined) {
    const file = resolve(o.cwd, o.outputsFile);
    if (!existsSync(file)) throw new UsageError(`--outputs-file ${o.outputsFile}: no such file`);
    const url = apiUrlFromOutputs(file, o.stack, o.warn);
    if (!url)
      throw new UsageError(`--outputs-file ${o.outputsFile} has no ApiUrl output for stack ${o.stack}`);
    return { url: normalizeApiUrl(url, file), source: 'outputs', detail: file };
  }
  for (const file of o.outputFiles ?? candidateOutputFiles(o.cwd)) {
    if (!existsSync(file)) continue;
    const url = apiUrlFromOutputs(file, o.stack, o.warn);
    if (url) return { url: normalizeApiUrl(url, file), source: 'outputs', detail: file };
  }
  const lookup = await (o.describeStack ?? describeStackApiUrl)(o.stack, o.region);
  if (lookup.found) {
    return {
      url: normalizeApiUrl(lookup.url, `the ApiUrl output of stack ${o.stack}`),
      source: 'cloudformation',
      detail: `stack ${o.stack} in ${lookup.region}`,
    };
  }
  if (lookup.reason === 'error' || lookup.reason === 'no-output') {
    o.warn?.(
      `note: could not read stack ${o.stack} from CloudFormation (${lookup.message ?? lookup.reason}); using the local stack at ${LOCAL_API}`,
    );
  }
  return { url: LOCAL_API, source: 'local', detail: 'default (npm start)' };
}

/** DescribeStacks with the SDK's default chain; quick and quiet when nothing AWS is configured. */
export async function describeStackApiUrl(
  stack: string,
  region?: string,
  credentials?: CredentialProvider,
): Promise<StackLookup> {
  const { CloudFormationClient, DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
  const client = new CloudFormationClient({
    ...(region ? { region } : {}),
    ...(credentials ? { credentials } : {}),
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 3000, requestTimeout: 8000 },
  });
  try {
    let resolvedRegion: string;
    try {
      resolvedRegion = await client.config.region();
    } catch {
      return { found: false, reason: 'no-region' };
    }
    if (!resolvedRegion) return { found: false, reason: 'no-region' };
    try {
      const out = await client.send(new DescribeStacksCommand({ StackName: stack }));
      const url = out.Stacks?.[0]?.Outputs?.find((x) => x.OutputKey === 'ApiUrl')?.OutputValue;
      if (!url) return { found: false, reason: 'no-output', message: `stack ${stack} has no ApiUrl output` };
      return { found: true, url, region: resolvedRegion };
    } catch (e) {
      const err = e as Error;
      if (err.name === 'ValidationError' && /does not exist/i.test(err.message)) {
        return { found: false, reason: 'not-found' };
      }
      // No credentials at all: as quiet as no region (a developer with no AWS set up, using npm start).
      if (err.name === 'CredentialsProviderError') return { found: false, reason: 'not-found' };
      return { found: false, reason: 'error', message: `${err.name}: ${err.message.split('\n')[0]}` };
    }
  } finally {
    client.destroy();
  }
}

/** True for an API on this machine (the local stack): no signing, s3rver for downloads. */
export function isLocalUrl(url: URL): boolean {
  const h = url.hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\./.test(h) || h === '0.0.0.0';
}
