/** What every command needs: where the output goes, the global flags, the API client, S3. */
import { isLocalUrl, LOCAL_API, type ResolvedApi, resolveApiUrl } from './api-url.js';
import { ApiClient } from './client.js';
import { CliError, EXIT } from './errors.js';
import { type CredentialProvider, createSigner, credentialChain, executeApiRegion } from './signing.js';
import type { Stream } from './watch.js';

export interface Io {
  stdout: Stream;
  stderr: Stream;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Aborted on Ctrl-C. */
  signal?: AbortSignal;
}

export interface GlobalOptions {
  api?: string;
  stack: string;
  outputsFile?: string;
  region?: string;
  profile?: string;
  sigv4Region?: string;
  s3Endpoint?: string;
  json?: boolean;
  timeout: number;
  verbose?: boolean;
}

/** s3rver, as `npm start` runs it. */
export const LOCAL_S3 = {
  endpoint: 'http://127.0.0.1:4569',
  region: 'us-east-1',
  credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
} as const;

export class Context {
  private resolved?: ResolvedApi;
  private apiClient?: ApiClient;
  private creds?: CredentialProvider;

  constructor(
    readonly io: Io,
    readonly g: GlobalOptions,
    readonly version: string,
    /** Injected by tests: the CloudFormation lookup. */
    private readonly describeStack?: Parameters<typeof resolveApiUrl>[0]['describeStack'],
  ) {}

  get json(): boolean {
    return !!this.g.json;
  }

  out(text: string): void {
    this.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  err(text: string): void {
    this.io.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  printJson(value: unknown): void {
    this.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  credentials(): CredentialProvider {
    this.creds ??= credentialChain(this.g.profile);
    return this.creds;
  }

  async api(): Promise<{ client: ApiClient; resolved: ResolvedApi }> {
    if (this.apiClient && this.resolved) return { client: this.apiClient, resolved: this.resolved };
    const { describeStackApiUrl } = await import('./api-url.js');
    const resolved = await resolveApiUrl({
      ...(this.g.api !== undefined ? { api: this.g.api } : {}),
      env: this.io.env,
      stack: this.g.stack,
      cwd: this.io.cwd,
      ...(this.g.outputsFile !== undefined ? { outputsFile: this.g.outputsFile } : {}),
      ...(this.g.region !== undefined ? { region: this.g.region } : {}),
      describeStack:
        this.describeStack ?? ((stack, region) => describeStackApiUrl(stack, region, this.credentials())),
      warn: (l) => this.err(l),
    });
    const url = new URL(resolved.url);
    const region = this.g.sigv4Region ?? executeApiRegion(url);
    const signer = region ? createSigner(region, this.credentials()) : undefined;
    if (this.g.verbose) {
      this.err(
        `api ${resolved.url} (from ${resolved.detail})${signer ? `, SigV4-signed for execute-api in ${region}` : ', unsigned'}`,
      );
    }
    this.resolved = resolved;
    this.apiClient = new ApiClient({
      baseUrl: resolved.url,
      ...(signer ? { signer } : {}),
      timeoutMs: this.g.timeout * 1000,
      userAgent: `zoho-export/${this.version}`,
    });
    return { client: this.apiClient, resolved };
  }

  /** The S3 client for downloads: s3rver for the local stack, the default AWS chain otherwise. */
  async s3(): Promise<{ client: import('@aws-sdk/client-s3').S3Client; where: string }> {
    const { client: api } = await this.api();
    const { S3Client } = await import('@aws-sdk/client-s3');
    const endpoint = this.g.s3Endpoint ?? this.io.env.ZOHO_EXPORT_S3_ENDPOINT;
    const localApi = isLocalUrl(api.base) && !api.signer;
    if (endpoint !== undefined) {
      try {
        new URL(endpoint);
      } catch {
        throw new CliError(EXIT.USAGE, `--s3-endpoint is not a URL: ${JSON.stringify(endpoint)}`, 'USAGE');
      }
    }
    if (localApi || (endpoint && isLocalUrl(new URL(endpoint)))) {
      const at = endpoint ?? LOCAL_S3.endpoint;
      return {
        client: new S3Client({
          endpoint: at,
          region: LOCAL_S3.region,
          forcePathStyle: true,
          credentials: LOCAL_S3.credentials,
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
          maxAttempts: 2,
        }),
        where: `${at} (s3rver${endpoint ? '' : ', the local stack; --s3-endpoint to change'})`,
      };
    }
    const region =
      this.g.region ?? api.signer?.region ?? this.io.env.AWS_REGION ?? this.io.env.AWS_DEFAULT_REGION;
    return {
      client: new S3Client({
        region: region ?? 'us-east-1',
        followRegionRedirects: true,
        credentials: this.credentials(),
        ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
      }),
      where: endpoint ?? `Amazon S3 (${region ?? 'us-east-1'})`,
    };
  }
}

export { LOCAL_API };
