/**
 * Typed client of the fake's admin API (admin.ts), for a fake running in another process. It mirrors
 * the in-process FakeZoho methods as async functions. Uses fetch; imports no server code.
 */
import type {
  CallbackLogEntry,
  FakeZohoStats,
  Fault,
  JobInfo,
  JobSpec,
  JobState,
  ModuleInfo,
  RecordInfo,
  RecordTarget,
  RequestLogEntry,
  RuntimeOptions,
  SeededJob,
} from './types.js';

export class FakeZohoAdminError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class FakeZohoAdminClient {
  /** `url`: the fake's base URL (http://127.0.0.1:port). */
  constructor(readonly url: string) {}

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}/__fake${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const parsed = text === '' ? {} : (JSON.parse(text) as unknown);
    if (!res.ok) {
      const msg = (parsed as { error?: string }).error ?? text;
      throw new FakeZohoAdminError(res.status, `fake-zoho admin ${method} ${path}: ${res.status} ${msg}`);
    }
    return parsed as T;
  }

  health(): Promise<{ ok: boolean; url: string }> {
    return this.call('GET', '/health');
  }

  addJob(spec: JobSpec = {}): Promise<SeededJob> {
    return this.call('POST', '/jobs', spec);
  }

  jobs(): Promise<JobInfo[]> {
    return this.call('GET', '/jobs');
  }

  jobInfo(jobId: string): Promise<JobInfo> {
    return this.call('GET', `/jobs/${encodeURIComponent(jobId)}`);
  }

  /** The exact CSV (or ICS) bytes inside the job's ZIP. */
  async csv(jobId: string): Promise<Buffer> {
    const res = await fetch(`${this.url}/__fake/jobs/${encodeURIComponent(jobId)}/csv`);
    if (!res.ok) throw new FakeZohoAdminError(res.status, `fake-zoho admin csv ${jobId}: ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  }

  async recordCount(jobId: string): Promise<number> {
    return (await this.call<{ count: number }>('GET', `/jobs/${encodeURIComponent(jobId)}/record-count`))
      .count;
  }

  async stateOf(jobId: string): Promise<JobState> {
    return (await this.jobInfo(jobId)).state;
  }

  completeNow(jobId: string): Promise<JobInfo> {
    return this.call('POST', `/jobs/${encodeURIComponent(jobId)}/complete`);
  }

  setState(jobId: string, state: JobState): Promise<JobInfo> {
    return this.call('PUT', `/jobs/${encodeURIComponent(jobId)}/state`, { state });
  }

  expireResult(jobId: string): Promise<JobInfo> {
    return this.call('POST', `/jobs/${encodeURIComponent(jobId)}/expire-result`);
  }

  async expirePageTokens(): Promise<void> {
    await this.call('POST', '/page-tokens/expire');
  }

  moduleInfo(module: string): Promise<ModuleInfo> {
    return this.call('GET', `/modules/${encodeURIComponent(module)}`);
  }

  setModuleRecords(module: string, count: number, at?: number): Promise<ModuleInfo> {
    return this.call('PUT', `/modules/${encodeURIComponent(module)}/records`, { count, at });
  }

  records(module: string, range: { from?: number; limit?: number } = {}): Promise<RecordInfo[]> {
    const q = new URLSearchParams();
    if (range.from !== undefined) q.set('from', String(range.from));
    if (range.limit !== undefined) q.set('limit', String(range.limit));
    const qs = q.toString();
    return this.call('GET', `/modules/${encodeURIComponent(module)}/records${qs ? `?${qs}` : ''}`);
  }

  async createRecords(module: string, count: number, at?: number): Promise<string[]> {
    return (
      await this.call<{ ids: string[] }>('POST', `/modules/${encodeURIComponent(module)}/records/create`, {
        count,
        at,
      })
    ).ids;
  }

  async modifyRecords(module: string, target: RecordTarget, at?: number): Promise<string[]> {
    return (
      await this.call<{ ids: string[] }>('POST', `/modules/${encodeURIComponent(module)}/records/modify`, {
        ...target,
        at,
      })
    ).ids;
  }

  async deleteRecords(
    module: string,
    target: RecordTarget,
    opts: { at?: number; type?: 'recycle' | 'permanent'; by?: string } = {},
  ): Promise<string[]> {
    return (
      await this.call<{ ids: string[] }>('POST', `/modules/${encodeURIComponent(module)}/records/delete`, {
        ...target,
        ...opts,
      })
    ).ids;
  }

  /** Adds line items to a parent record of a subform module (subforms.ts). */
  async addLineItems(subform: string, parentId: string, count = 1, at?: number): Promise<string[]> {
    return (
      await this.call<{ ids: string[] }>('POST', `/modules/${encodeURIComponent(subform)}/line-items`, {
        parentId,
        count,
        at,
      })
    ).ids;
  }

  async lineItems(subform: string, parentId: string): Promise<string[]> {
    return (
      await this.call<{ ids: string[] }>(
        'GET',
        `/modules/${encodeURIComponent(subform)}/line-items?parentId=${encodeURIComponent(parentId)}`,
      )
    ).ids;
  }

  async recomputeFormulas(module: string, target: RecordTarget, at?: number): Promise<string[]> {
    return (
      await this.call<{ ids: string[] }>('POST', `/modules/${encodeURIComponent(module)}/records/recompute`, {
        ...target,
        at,
      })
    ).ids;
  }

  async restoreRecords(module: string, target: RecordTarget, at?: number): Promise<string[]> {
    return (
      await this.call<{ ids: string[] }>('POST', `/modules/${encodeURIComponent(module)}/records/restore`, {
        ...target,
        at,
      })
    ).ids;
  }

  async fields(module: string): Promise<Record<string, unknown>[]> {
    return (
      await this.call<{ fields: Record<string, unknown>[] }>('GET', `/fields/${encodeURIComponent(module)}`)
    ).fields;
  }

  async inject(fault: Fault): Promise<void> {
    const times = fault.times === Number.POSITIVE_INFINITY ? 'Infinity' : fault.times;
    await this.call('POST', '/faults', { ...fault, times });
  }

  async clearFaults(): Promise<void> {
    await this.call('DELETE', '/faults');
  }

  stats(): Promise<FakeZohoStats> {
    return this.call('GET', '/stats');
  }

  /** Starts the peak concurrent-jobs counter again from the jobs running now. */
  resetPeakConcurrentJobs(): Promise<FakeZohoStats> {
    return this.call('POST', '/stats/reset-peak');
  }

  requests(): Promise<RequestLogEntry[]> {
    return this.call('GET', '/requests');
  }

  async clearRequests(): Promise<void> {
    await this.call('DELETE', '/requests');
  }

  callbacks(): Promise<CallbackLogEntry[]> {
    return this.call('GET', '/callbacks');
  }

  async clearCallbacks(): Promise<void> {
    await this.call('DELETE', '/callbacks');
  }

  options(): Promise<Required<RuntimeOptions>> {
    return this.call('GET', '/options');
  }

  setOptions(patch: RuntimeOptions): Promise<Required<RuntimeOptions>> {
    return this.call('PATCH', '/options', patch);
  }

  async now(): Promise<number> {
    return (await this.call<{ now: number }>('GET', '/clock')).now;
  }

  /** Freezes the fake's clock at `ms`. */
  async setClock(ms: number): Promise<number> {
    return (await this.call<{ now: number }>('POST', '/clock', { now: ms })).now;
  }

  async advanceClock(ms: number): Promise<number> {
    return (await this.call<{ now: number }>('POST', '/clock', { advanceMs: ms })).now;
  }

  async revokeTokens(): Promise<void> {
    await this.call('POST', '/tokens/revoke');
  }

  async expireTokens(): Promise<void> {
    await this.call('POST', '/tokens/expire');
  }

  async revokeRefreshToken(refreshToken: string): Promise<void> {
    await this.call('POST', '/refresh-tokens/revoke', { refreshToken });
  }
}
