/**
 * Which API the CLI talks to: --api, ZOHO_EXPORT_API, a CDK outputs file, CloudFormation, the local
 * stack, in that order. The CloudFormation step runs for real (the SDK's DescribeStacks) against a
 * stand-in endpoint given through AWS_ENDPOINT_URL_CLOUDFORMATION.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { candidateOutputFiles, LOCAL_API, resolveApiUrl, type StackLookup } from '../../cli/api-url.js';
import { cli, isolatedAwsEnv, removeTempDirs, root, tempDir } from './helpers.js';

afterAll(() => removeTempDirs());

const notFound = async (): Promise<StackLookup> => ({ found: false, reason: 'not-found' });
const base = (over: Partial<Parameters<typeof resolveApiUrl>[0]> = {}) => ({
  env: {},
  stack: 'ZohoCrmBulkExport',
  cwd: tempDir(),
  outputFiles: [],
  describeStack: notFound,
  ...over,
});

function outputs(dir: string, data: unknown, file = 'outputs.json'): string {
  const p = path.join(dir, file);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, JSON.stringify(data));
  return p;
}

describe('API URL resolution', () => {
  it('--api first, then ZOHO_EXPORT_API (a trailing slash and query are dropped)', async () => {
    const env = { ZOHO_EXPORT_API: 'https://env.example.com/prod/' };
    expect(await resolveApiUrl(base({ api: 'http://127.0.0.1:4000/', env }))).toMatchObject({
      url: 'http://127.0.0.1:4000',
      source: 'flag',
    });
    expect(await resolveApiUrl(base({ env }))).toMatchObject({
      url: 'https://env.example.com/prod',
      source: 'env',
    });
  });

  it("a CDK outputs file: the stack's ApiUrl, or the only stack's, in outputs.json or cdk.out/outputs.json", async () => {
    const dir = tempDir();
    const inCdkOut = outputs(
      dir,
      {
        ZohoCrmBulkExport: { ApiUrl: 'https://abc123.execute-api.eu-west-1.amazonaws.com/', BucketName: 'b' },
      },
      'cdk.out/outputs.json',
    );
    const files = [path.join(dir, 'outputs.json'), inCdkOut];
    const describeStack = async (): Promise<StackLookup> => {
      throw new Error('CloudFormation must not be asked when an outputs file has the URL');
    };
    expect(await resolveApiUrl(base({ cwd: dir, outputFiles: files, describeStack }))).toMatchObject({
      url: 'https://abc123.execute-api.eu-west-1.amazonaws.com',
      source: 'outputs',
      detail: inCdkOut,
    });
    // The first file wins; a stack deployed under another name is taken when it is the only one.
    outputs(dir, { MyExporter: { ApiUrl: 'https://other.execute-api.us-east-1.amazonaws.com/' } });
    expect((await resolveApiUrl(base({ cwd: dir, outputFiles: files, describeStack }))).url).toBe(
      'https://other.execute-api.us-east-1.amazonaws.com',
    );
    // Two stacks, neither named --stack: not guessed.
    outputs(dir, { A: { ApiUrl: 'https://a.example.com' }, B: { ApiUrl: 'https://b.example.com' } });
    expect((await resolveApiUrl(base({ cwd: dir, outputFiles: files, stack: 'B' }))).url).toBe(
      'https://b.example.com',
    );
    expect(
      (await resolveApiUrl(base({ cwd: dir, outputFiles: [path.join(dir, 'outputs.json')] }))).source,
    ).toBe('local');
    // --outputs-file names one explicitly; a missing one is a usage error.
    expect((await resolveApiUrl(base({ cwd: dir, outputsFile: 'outputs.json', stack: 'A' }))).url).toBe(
      'https://a.example.com',
    );
    await expect(resolveApiUrl(base({ cwd: dir, outputsFile: 'nope.json' }))).rejects.toThrow('no such file');
  });

  it('a broken outputs file is skipped with a note', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'outputs.json'), '{ not json');
    const notes: string[] = [];
    const r = await resolveApiUrl(
      base({ cwd: dir, outputFiles: [path.join(dir, 'outputs.json')], warn: (l) => notes.push(l) }),
    );
    expect(r.source).toBe('local');
    expect(notes[0]).toContain('ignoring');
  });

  it('then CloudFormation DescribeStacks on --stack, then the local stack', async () => {
    const asked: Array<[string, string | undefined]> = [];
    const found = await resolveApiUrl(
      base({
        stack: 'Exporter',
        region: 'eu-central-1',
        describeStack: async (stack, region) => {
          asked.push([stack, region]);
          return {
            found: true,
            url: 'https://xyz.execute-api.eu-central-1.amazonaws.com/',
            region: 'eu-central-1',
          };
        },
      }),
    );
    expect(asked).toEqual([['Exporter', 'eu-central-1']]);
    expect(found).toMatchObject({
      url: 'https://xyz.execute-api.eu-central-1.amazonaws.com',
      source: 'cloudformation',
      detail: 'stack Exporter in eu-central-1',
    });
    expect(await resolveApiUrl(base())).toMatchObject({ url: LOCAL_API, source: 'local' });
    const notes: string[] = [];
    await resolveApiUrl(
      base({
        describeStack: async () => ({
          found: false,
          reason: 'error',
          message: 'ExpiredToken: the SSO session expired',
        }),
        warn: (l) => notes.push(l),
      }),
    );
    expect(notes[0]).toContain('could not read stack ZohoCrmBulkExport from CloudFormation (ExpiredToken');
  });

  it('the checkout and the working directory are where outputs files are looked for', () => {
    const cwd = tempDir();
    expect(candidateOutputFiles(cwd)).toEqual([
      path.join(cwd, 'outputs.json'),
      path.join(cwd, 'cdk.out', 'outputs.json'),
      path.join(root, 'outputs.json'),
      path.join(root, 'cdk.out', 'outputs.json'),
    ]);
  });
});

describe('the real CloudFormation lookup (the SDK against a stand-in endpoint)', () => {
  const checkoutHasOutputs = ['outputs.json', 'cdk.out/outputs.json'].some((f) =>
    existsSync(path.join(root, f)),
  );
  let cfn: Server | undefined;
  afterAll(() => cfn?.close());

  it.skipIf(checkoutHasOutputs)('reads ApiUrl from DescribeStacks and uses it', async () => {
    const requests: string[] = [];
    cfn = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        if (req.url?.startsWith('/exports')) {
          requests.push(`api ${req.method} ${req.url}`);
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ exports: [], next: null }));
          return;
        }
        requests.push(`cfn ${body}`);
        const port = (cfn!.address() as { port: number }).port;
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end(`<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">
  <DescribeStacksResult><Stacks><member>
    <StackName>Exporter</StackName>
    <StackId>arn:aws:cloudformation:eu-west-1:123456789012:stack/Exporter/1</StackId>
    <CreationTime>2026-12-01T00:00:00Z</CreationTime>
    <StackStatus>CREATE_COMPLETE</StackStatus>
    <Outputs><member><OutputKey>BucketName</OutputKey><OutputValue>b</OutputValue></member>
      <member><OutputKey>ApiUrl</OutputKey><OutputValue>http://127.0.0.1:${port}/</OutputValue></member></Outputs>
  </member></Stacks></DescribeStacksResult>
  <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>
</DescribeStacksResponse>`);
      });
    });
    await new Promise<void>((ok) => cfn!.listen(0, '127.0.0.1', () => ok()));
    const port = (cfn.address() as { port: number }).port;
    const env = {
      ...isolatedAwsEnv(tempDir()),
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIATESTCFN000000001',
      AWS_SECRET_ACCESS_KEY: 'cfn-secret',
      AWS_ENDPOINT_URL_CLOUDFORMATION: `http://127.0.0.1:${port}`,
      ZOHO_EXPORT_STACK: 'Exporter',
    };
    const r = await cli(['exports', 'list', '--verbose'], { env, cwd: tempDir() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`api http://127.0.0.1:${port} (from stack Exporter in eu-west-1), unsigned`);
    expect(requests[0]).toMatch(/^cfn .*Action=DescribeStacks.*StackName=Exporter/);
    expect(requests[1]).toBe('api GET /exports?limit=100');
    expect(r.stdout.trim()).toBe('no exports');
  });

  it('without any AWS configuration it falls back to the local stack quietly', async () => {
    const r = await cli(['exports', 'list', '--verbose', '--timeout', '2'], {
      env: isolatedAwsEnv(tempDir()),
      cwd: tempDir(),
    });
    if (checkoutHasOutputs) return; // this checkout has a deployed stack's outputs: not the case tested
    expect(r.stderr).toContain(`api ${LOCAL_API} (from default (npm start)), unsigned`);
    expect(r.stderr).not.toContain('note:');
  });
});
