/**
 * The probe of a linking module (EXPORT_LINKING_MODULES): Zoho says Bulk Read exports linking modules,
 * Estuary excludes them, so each one is proven once by a minimal Bulk Read job before discovery calls
 * it exportable (tables-and-modules.md §1a, §1c).
 *
 * What "minimal" can honestly mean: a Bulk Read create has no record limit (`per_page` is fixed at
 * 200,000; zoho-bulk-read-api.md §2.1, §5), so a one-record job does not exist. The probe asks for the
 * `id` column only, with no criteria (a criteria that matched nothing would add a second thing Zoho
 * could refuse, and criteria on linking modules are undocumented), no callback, and is never polled
 * or downloaded: the module refusals (MODULE_NOT_SUPPORTED, INVALID_MODULE, ...) are create-time
 * answers (§2.5), so the create's answer is the whole result. Its cost is one job (50 credits
 * [UNVERIFIED for CRM]) per linking module per 30 days; its result file expires at Zoho after a day.
 *
 * Items in the state table (conditional writes only), `module-probe#<api_name>`:
 * `lease_until`/`lease_owner` while one request probes (two API instances never both pay for it),
 * then `accepted_at` (ms), `job_id` and the `supersedes_*` field, kept `PROBE_TTL_MS`; after a probe
 * without a verdict, `last_code` and `retry_after` (listings wait `PROBE_RETRY_MS` before the next). A refusal goes
 * to the refusal memory (ModuleCatalog.recordRefusal), which discovery already reads.
 */
import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import { z } from 'zod';
import { and, eq, lt, missing, or } from '../ddb/expr.js';
import { parseOptionalRecord } from '../ddb/record.js';
import type { Table } from '../ddb/table.js';
import { describeError } from '../observability.js';
import type { ZohoClient } from '../zoho/client.js';
import type { ApiVersion } from '../zoho/data-centers.js';
import { ZohoError } from '../zoho/errors.js';
import { PROBE_REFUSAL_CODES, type ProbeState, type Supersedes } from './discovery.js';

export const PROBE_TTL_MS = 30 * 24 * 3_600_000;
/** One request holds a module's probe this long at most (a probe's attempts fit well inside). */
export const PROBE_LEASE_MS = 60_000;
/** Each Zoho call of a probe is abandoned after this. */
export const PROBE_CALL_TIMEOUT_MS = 8_000;
/** Tries of the create when Zoho is unreachable or throttles (then `probe_pending`). */
export const PROBE_ATTEMPTS = 3;
/** After a probe without a verdict (Zoho down, a scope missing), listings do not try again for this long. */
export const PROBE_RETRY_MS = 5 * 60_000;
const PROBE_BACKOFF_MS = 500;
const PROBES_IN_FLIGHT = 2;

const probeKey = (module: string) => ({ pk: `module-probe#${module}` });

const probeItem = z.looseObject({
  pk: z.string().startsWith('module-probe#'),
  accepted_at: z.number().finite().optional(),
  job_id: z.string().optional(),
  supersedes_module: z.string().min(1).optional(),
  supersedes_field: z.string().min(1).optional(),
  lease_until: z.number().finite().optional(),
  /** A probe without a verdict: Zoho's code, and when the next one may start. */
  last_code: z.string().optional(),
  retry_after: z.number().finite().optional(),
});

/** The keys of Zoho's field metadata the superseded field is found with (analytics-output.md). */
const linkField = z.looseObject({
  api_name: z.string().min(1),
  data_type: z.string().optional(),
  lookup: z.looseObject({ module: z.looseObject({ api_name: z.string() }).nullish() }).nullish(),
  multiselectlookup: z
    .looseObject({
      linking_details: z.looseObject({ module: z.looseObject({ api_name: z.string() }).nullish() }).nullish(),
    })
    .nullish(),
});

/** The outcome of one module's probe: its state, or Zoho's refusal code (remembered by the caller). */
export type ProbeOutcome = ProbeState | { state: 'refused'; code: string };

export interface LinkingProbeOptions {
  table: Table;
  zoho: Pick<ZohoClient, 'createJob' | 'getFields'>;
  /** Remembers Zoho's refusal (ModuleCatalog.recordRefusal with PROBE_REFUSAL_CODES). */
  recordRefusal: (module: string, code: string) => Promise<unknown>;
  log?: (message: string, extra: Record<string, unknown>) => void;
  version?: ApiVersion;
  now?: () => number;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class LinkingProbe {
  private readonly now: () => number;

  constructor(private readonly opts: LinkingProbeOptions) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * The state of each module: remembered acceptances as they are; the others probed now, unless
   * `deadline` (ms, this clock) passes or `signal` fires first (then `pending`). Never throws for a
   * module's trouble: it becomes that module's `pending` detail.
   */
  async states(
    modules: readonly string[],
    o: { deadline: number; signal?: AbortSignal },
  ): Promise<Record<string, ProbeOutcome>> {
    const limit = pLimit(PROBES_IN_FLIGHT);
    const out: Record<string, ProbeOutcome> = {};
    await Promise.all(
      modules.map((m) =>
        limit(async () => {
          out[m] = await this.one(m, o).catch((e: unknown) => {
            this.opts.log?.('linking module probe failed', { module: m, error: describeError(e) });
            return {
              state: 'pending' as const,
              detail: 'the probe could not be run; tried again next listing',
            };
          });
        }),
      ),
    );
    return out;
  }

  private async one(module: string, o: { deadline: number; signal?: AbortSignal }): Promise<ProbeOutcome> {
    const { table } = this.opts;
    const key = probeKey(module);
    const item = parseOptionalRecord(probeItem, await table.get(key), { table: table.name, key });
    const now = this.now();
    if (item?.accepted_at !== undefined && item.accepted_at > now - PROBE_TTL_MS) return accepted(item);
    if (item?.retry_after !== undefined && item.retry_after > now) {
      return {
        state: 'pending',
        detail: `the last probe got ${item.last_code ?? 'no answer'}; tried again after ${new Date(item.retry_after).toISOString()}`,
      };
    }
    if (now >= o.deadline || o.signal?.aborted)
      return { state: 'pending', detail: 'not probed within this request; tried again next listing' };
    const owner = randomUUID();
    const claimed = await table.update(
      key,
      { set: { module, lease_until: now + PROBE_LEASE_MS, lease_owner: owner } },
      and(
        or(missing('lease_until'), lt('lease_until', now)),
        or(missing('accepted_at'), lt('accepted_at', now - PROBE_TTL_MS)),
      ),
    );
    if (claimed === false) return { state: 'pending', detail: 'another request is probing it' };
    const mine = eq('lease_owner', owner);
    const created = await this.create(module, o);
    if ('code' in created) {
      const retryAfter = this.now() + PROBE_RETRY_MS;
      await table.update(
        key,
        {
          set: created.refused ? {} : { last_code: created.code, retry_after: retryAfter },
          remove: ['lease_until', 'lease_owner', ...(created.refused ? ['last_code', 'retry_after'] : [])],
        },
        mine,
      );
      if (created.refused) {
        await this.opts.recordRefusal(module, created.code);
        return { state: 'refused', code: created.code };
      }
      return {
        state: 'pending',
        detail: `Zoho answered ${created.code}; tried again after ${new Date(retryAfter).toISOString()}`,
      };
    }
    const supersedes = await this.supersededField(module, o).catch((e: unknown) => {
      this.opts.log?.('the superseded field of a linking module was not found', {
        module,
        error: describeError(e),
      });
      return null;
    });
    const at = this.now();
    await table.update(
      key,
      {
        set: {
          accepted_at: at,
          job_id: created.jobId,
          expires_at: Math.floor((at + PROBE_TTL_MS) / 1000),
          ...(supersedes ? { supersedes_module: supersedes.module, supersedes_field: supersedes.field } : {}),
        },
        remove: ['lease_until', 'lease_owner', 'last_code', 'retry_after'],
      },
      mine,
    );
    return { state: 'accepted', at: new Date(at).toISOString(), supersedes };
  }

  /** The probe job's create, retried with backoff while Zoho is unreachable or throttles. */
  private async create(
    module: string,
    o: { deadline: number; signal?: AbortSignal },
  ): Promise<{ jobId: string } | { code: string; refused: boolean }> {
    const random = this.opts.random ?? Math.random;
    const sleep = this.opts.sleep ?? defaultSleep;
    let last = 'NOT_TRIED';
    for (let attempt = 0; attempt < PROBE_ATTEMPTS; attempt++) {
      const left = o.deadline - this.now();
      if (left <= 0 || o.signal?.aborted) break;
      const signal = AbortSignal.any([
        AbortSignal.timeout(Math.min(PROBE_CALL_TIMEOUT_MS, left)),
        ...(o.signal ? [o.signal] : []),
      ]);
      try {
        const job = await this.opts.zoho.createJob(
          { module, fields: ['id'] },
          { signal, ...(this.opts.version ? { version: this.opts.version } : {}) },
        );
        return { jobId: job.id };
      } catch (e) {
        if (!(e instanceof ZohoError)) {
          last = e instanceof Error && e.name === 'AbortError' ? 'TIMEOUT' : 'UNEXPECTED_ERROR';
        } else {
          if (e.kind === 'terminal' && e.stage !== 'oauth')
            return { code: e.code, refused: PROBE_REFUSAL_CODES.has(e.code) };
          last = e.code;
        }
      }
      const wait = PROBE_BACKOFF_MS * 2 ** attempt * (0.5 + random() / 2);
      if (attempt === PROBE_ATTEMPTS - 1 || this.now() + wait >= o.deadline) break;
      await sleep(wait);
    }
    return { code: last, refused: false };
  }

  /**
   * The parent's multi-select lookup field behind `linking`: its two lookups name the two modules, and
   * the one whose field metadata has `multiselectlookup.linking_details.module` = `linking` holds it.
   */
  private async supersededField(
    linking: string,
    o: { deadline: number; signal?: AbortSignal },
  ): Promise<Supersedes | null> {
    const call = () => ({
      signal: AbortSignal.any([
        AbortSignal.timeout(Math.max(1, Math.min(PROBE_CALL_TIMEOUT_MS, o.deadline - this.now()))),
        ...(o.signal ? [o.signal] : []),
      ]),
      ...(this.opts.version ? { version: this.opts.version } : {}),
    });
    const own = (await this.opts.zoho.getFields(linking, call())).map((f) => linkField.parse(f));
    const parents = [
      ...new Set(
        own.flatMap((f) => (f.data_type === 'lookup' && f.lookup?.module ? [f.lookup.module.api_name] : [])),
      ),
    ];
    for (const parent of parents) {
      if (this.now() >= o.deadline) return null;
      const fields = (await this.opts.zoho.getFields(parent, call())).map((f) => linkField.parse(f));
      const field = fields.find(
        (f) =>
          f.data_type === 'multiselectlookup' &&
          f.multiselectlookup?.linking_details?.module?.api_name === linking,
      );
      if (field) return { module: parent, field: field.api_name };
    }
    return null;
  }
}

function accepted(item: z.output<typeof probeItem>): ProbeState {
  return {
    state: 'accepted',
    at: new Date(item.accepted_at ?? 0).toISOString(),
    supersedes:
      item.supersedes_module && item.supersedes_field
        ? { module: item.supersedes_module, field: item.supersedes_field }
        : null,
  };
}
