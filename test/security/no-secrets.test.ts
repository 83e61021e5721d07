import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callbackTokenV1, keyFromSecret } from '../../lib/callbacks/token.js';
import { FakeZohoAdminClient } from '../../local/fake-zoho/admin-client.js';
import { DEFAULT_CLIENT } from '../../local/fake-zoho/index.js';
import { type NpmStart, startNpmStart, waitFor } from '../support/npm-start.js';
import {
  callbackTokensIn,
  EXPORT_ID,
  filesUnder,
  issuedAccessTokens,
  secretHits,
  secretsOf,
} from '../support/secrets.js';

const root = path.resolve(import.meta.dirname, '../..');
const dataDir = mkdtempSync(path.join(tmpdir(), 'zoho-secrets-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('npm start writes no secret anywhere', () => {
  let stack: NpmStart;
  let api = '';
  let fake: FakeZohoAdminClient;
  /** Every answer body of the product's API, with what was asked. */
  const answers: string[] = [];

  const call = async (
    method: string,
    p: string,
    body?: unknown,
  ): Promise<{ status: number; json: unknown }> => {
    const res = await fetch(`${api}${p}`, {
      method,
      ...(body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    const text = await res.text();
    answers.push(`${method} ${p} -> ${res.status} ${JSON.stringify([...res.headers])} ${text}`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, json };
  };

  /**
   * The data directory as it is at a few moments: a token cached in the state table is there while it
   * lives (the end state no longer has it once the token failure removed it).
   */
  const snapshots: Array<{ where: string; text: string }> = [];
  const SKIP = [path.join(dataDir, 'fake-zoho'), path.join(dataDir, 'callback-key')];
  const snapshot = (label: string): void => {
    for (const f of filesUnder(dataDir, SKIP))
      snapshots.push({ where: `${label}: ${path.relative(dataDir, f.file)}`, text: f.text });
  };

  /** The access tokens the fake has issued so far (its own state file; revocation deletes them there). */
  const issued = new Set<string>();
  const readIssued = (): void => {
    for (const t of issuedAccessTokens(dataDir)) issued.add(t);
  };

  beforeAll(async () => {
    stack = await startNpmStart(root, dataDir);
    api = `http://127.0.0.1:${stack.ports.api}`;
    fake = new FakeZohoAdminClient(`http://127.0.0.1:${stack.ports.zoho}`);
  }, 240_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('after an export, forged callbacks, INVALID_CALLBACK_URL and a token failure', async () => {
    // 1. A full export, with Zoho's callback to the stack's own route.
    const started = await call('POST', '/exports', { module: 'Contacts' });
    expect(started.status).toBe(201);
    const exportId = (started.json as { export_id: string }).export_id;
    const done = await waitFor(
      'the export COMPLETED',
      async () => {
        const e = (await call('GET', `/exports/${exportId}`)).json as { status: string };
        return e.status === 'COMPLETED' || e.status === 'FAILED' ? e : undefined;
      },
      90_000,
    );
    expect(done.status).toBe('COMPLETED');
    const called = await waitFor(
      "Zoho's callback",
      async () => {
        const c = await fake.callbacks();
        return c.some((x) => x.status !== undefined) ? c : undefined;
      },
      30_000,
    );
    expect(called.some((c) => c.url.includes('/callbacks/zoho/ex_'))).toBe(true);
    snapshot('after the export');

    // 2. Forged callbacks: a well-formed token with a wrong MAC, and a malformed escape.
    const forged = `${exportId}.1.${'A'.repeat(22)}`;
    expect(
      (await call('POST', `/callbacks/zoho/${forged}`, { job_id: '1', state: 'COMPLETED' })).status,
    ).toBe(404);
    expect((await call('POST', '/callbacks/zoho/%E0%A4%A', { state: 'COMPLETED' })).status).toBe(404);

    // 3. Zoho refuses the callback URL and echoes it (with its token) in its message.
    await fake.setOptions({ rejectCallbackUrls: true });
    const refused = await call('POST', '/exports', { module: 'Accounts' });
    await fake.setOptions({ rejectCallbackUrls: false });
    expect(refused.status).toBe(400);
    expect(refused.json).toMatchObject({ error: { code: 'INVALID_CALLBACK_URL' } });
    expect(JSON.stringify(refused.json)).toContain('[redacted]');

    snapshot('after INVALID_CALLBACK_URL');

    // 4. A token failure: every access token and the refresh token revoked.
    readIssued();
    expect(issued.size).toBeGreaterThan(0);
    // The refresh token first: no token can be minted between the two.
    await fake.revokeRefreshToken(DEFAULT_CLIENT.refreshToken);
    await fake.revokeTokens();
    const failed = await call('POST', '/exports', { module: 'Deals' });
    expect(failed.status).toBe(503);
    expect(failed.json).toMatchObject({ error: { code: 'invalid_code' } });
    // The poller meets the same failure (give it a tick or two to log it).
    await new Promise((r) => setTimeout(r, 2_500));

    // Everything the API shows.
    const list = await call('GET', '/exports');
    expect(JSON.stringify(list.json)).toContain(exportId);
    await call('GET', '/jobs');
    const events = await call('GET', '/events');
    expect(JSON.stringify(events.json)).toContain(exportId);

    expect(await stack.stop()).toBe(0);
    readIssued();

    // The secrets: the fake's client secret and refresh token, each access token it issued, each
    // callback token the product gave Zoho (the fake's jobs and callback log, and the token of page 1..3
    // of every export id the product wrote anywhere, under the data directory's callback key).
    snapshot('at the end');
    const haystacks: Array<{ where: string; text: string }> = [
      { where: 'stdout/stderr', text: stack.output() },
      ...answers.map((text, i) => ({ where: `API answer ${i}`, text })),
      ...snapshots,
    ];
    const key = keyFromSecret(readFileSync(path.join(dataDir, 'callback-key'), 'utf8'));
    const callbackTokens = new Set<string>();
    const jobs = JSON.parse(readFileSync(path.join(dataDir, 'fake-zoho', 'state', 'jobs.json'), 'utf8'))
      .jobs as Array<{ callbackUrl?: string }>;
    for (const t of callbackTokensIn([...jobs.map((j) => j.callbackUrl), ...called.map((c) => c.url)]))
      callbackTokens.add(t);
    const exportIds = new Set<string>();
    for (const h of haystacks) for (const m of h.text.matchAll(EXPORT_ID)) exportIds.add(m[0]);
    // (The refused export's id is written nowhere, so its token is known only by its shape: the
    // CALLBACK_TOKEN search below finds any full token, whatever its export.)
    expect(exportIds.has(exportId)).toBe(true);
    // v2 tokens carry a random nonce (they come from the fake's log above); v1 ones can be recomputed.
    for (const id of exportIds)
      for (const page of [1, 2, 3]) callbackTokens.add(callbackTokenV1(key, id, page));
    expect(callbackTokens.size).toBeGreaterThan(0);

    const hits = secretHits(haystacks, secretsOf(issued, callbackTokens), new Set([forged]));
    expect(hits).toEqual([]);

    // The search saw the stored data: the tables on disk hold the export, and the sealed token.
    const ddb = snapshots.filter((f) => f.where.startsWith('after the export: dynamodb'));
    expect(ddb.length).toBeGreaterThan(0);
    expect(ddb.some((f) => f.text.includes(exportId))).toBe(true);
    expect(ddb.some((f) => f.text.includes('sealed_token'))).toBe(true);
    expect(snapshots.some((f) => f.where.startsWith('at the end: s3'))).toBe(true);
  }, 240_000);
});
