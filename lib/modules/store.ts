/**
 * Module discovery, the stored half: the org's module list from Zoho, cached in the state table, and
 * Zoho's refusals of exports remembered there.
 *
 * The cache is the state table, not the function's memory: API Lambda instances are many and
 * short-lived, so a memory cache would ask Zoho once per cold instance and `refresh` would refresh one
 * instance only; in the table, one answer serves every instance for `MODULES_CACHE_MS` (1 h: modules
 * change when an admin adds one, rarely within an hour, and `?refresh=true` is there for that), and a
 * refusal recorded by any function (the API, the schedule runner) makes it stale at once.
 *
 * Items (all written with UpdateItem under a condition; every function may Get/Update the state table):
 * - `modules#cache`: `fetched_at` (ms, when the Zoho call started), `modules` (Zoho's attributes that
 *   discovery uses), `refusals` read with them, `refusal_seq` (counts the refusals recorded) and
 *   `modules_seq` (its value before the list was fetched): the list is stale when they differ, whatever
 *   the clocks of the functions say;
 * - `module-refusal#<api_name>`: Zoho's code and when; kept `REFUSAL_TTL_MS` (Zoho may add support).
 */
import pLimit from 'p-limit';
import { z } from 'zod';
import { lt, missing, ne, or } from '../ddb/expr.js';
import { parseOptionalRecord } from '../ddb/record.js';
import type { Table } from '../ddb/table.js';
import type { ZohoClient } from '../zoho/client.js';
import type { ApiVersion } from '../zoho/data-centers.js';
import { type ZohoModule, zohoModuleRecord } from '../zoho/modules.js';
import {
  type ClassifyOptions,
  classifyModules,
  type ModuleInfo,
  type ModuleRefusal,
  needsProbe,
  type ProbeState,
  REFUSAL_CODES,
} from './discovery.js';
import type { LinkingProbe } from './probe.js';

export const MODULES_CACHE_MS = 3_600_000;
export const REFUSAL_TTL_MS = 30 * 24 * 3_600_000;
/** A refusal already remembered is written again (its TTL renewed) at most this often. */
const REFUSAL_REWRITE_MS = 24 * 3_600_000;
/** Larger lists are not cached (a DynamoDB item holds 400 KB); a real org's is a few tens of KB. */
const MAX_CACHED_BYTES = 300_000;
const REFUSAL_READS = 8;

const CACHE_KEY = { pk: 'modules#cache' };
const refusalKey = (module: string) => ({ pk: `module-refusal#${module}` });

const cacheItem = z.looseObject({
  pk: z.literal(CACHE_KEY.pk),
  fetched_at: z.number().finite().optional(),
  modules: z.array(zohoModuleRecord).optional(),
  refusals: z.record(z.string(), z.strictObject({ code: z.string(), refused_at: z.string() })).optional(),
  refusal_seq: z.number().int().nonnegative().optional(),
  modules_seq: z.number().int().nonnegative().optional(),
});

const refusalItem = z.looseObject({
  pk: z.string().startsWith('module-refusal#'),
  code: z.string().min(1),
  refused_at: z.number().finite(),
});

/** What `GET /modules` answers. */
export interface ModuleList {
  modules: ModuleInfo[];
  /** When Zoho was asked (ISO). */
  fetched_at: string;
  /** Whether this answer came from the cache. */
  cached: boolean;
  cache_max_age_seconds: number;
}

export interface ModuleCatalogOptions {
  table: Table;
  zoho: Pick<ZohoClient, 'listModules'>;
  now?: () => number;
  cacheMs?: number;
  version?: ApiVersion;
  classify?: ClassifyOptions;
  /** With `classify.linking`: proves each linking module once (lib/modules/probe.ts). */
  probe?: LinkingProbe;
  /** How long one listing may spend probing linking modules (ms; default 10 s, the API's budget allows it). */
  probeBudgetMs?: number;
}

/** A listing spends at most this long probing; the rest stay `probe_pending` until the next listing. */
export const PROBE_BUDGET_MS = 10_000;

export class ModuleCatalog {
  private readonly now: () => number;
  private readonly cacheMs: number;

  constructor(private readonly opts: ModuleCatalogOptions) {
    this.now = opts.now ?? Date.now;
    this.cacheMs = opts.cacheMs ?? MODULES_CACHE_MS;
  }

  /** Every module of the org, classified; from the cache unless it is stale or `refresh`. */
  async list(o: { refresh?: boolean; signal?: AbortSignal } = {}): Promise<ModuleList> {
    const { table } = this.opts;
    const answer = async (
      modules: ZohoModule[],
      refusals: Record<string, ModuleRefusal>,
      at: number,
      cached: boolean,
    ): Promise<ModuleList> => {
      const probes = await this.probe(modules, refusals, o.signal);
      return {
        modules: classifyModules(modules, refusals, this.opts.classify, probes),
        fetched_at: new Date(at).toISOString(),
        cached,
        cache_max_age_seconds: Math.round(this.cacheMs / 1000),
      };
    };
    const c = parseOptionalRecord(cacheItem, await table.get(CACHE_KEY), {
      table: table.name,
      key: CACHE_KEY,
    });
    const seq = c?.refusal_seq ?? 0;
    const now = this.now();
    if (
      !o.refresh &&
      c?.modules &&
      c.fetched_at !== undefined &&
      c.fetched_at <= now &&
      now - c.fetched_at < this.cacheMs &&
      (c.modules_seq ?? 0) === seq
    )
      return answer(c.modules, { ...(c.refusals ?? {}) }, c.fetched_at, true);
    const started = this.now();
    const modules = await this.opts.zoho.listModules({
      ...(this.opts.version ? { version: this.opts.version } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const refusals = await this.refusalsOf(modules.filter((m) => m.api_supported).map((m) => m.api_name));
    if (Buffer.byteLength(JSON.stringify(modules)) <= MAX_CACHED_BYTES) {
      // A newer answer already stored wins; `refusal_seq` is left as it is (a refusal recorded while
      // Zoho was asked has moved it past `seq`: this answer is stale at once).
      await table.update(
        CACHE_KEY,
        {
          set: {
            fetched_at: started,
            modules,
            refusals,
            modules_seq: seq,
            expires_at: Math.floor((started + this.cacheMs) / 1000) + 86_400,
          },
        },
        or(missing('fetched_at'), lt('fetched_at', started)),
      );
    }
    return answer(modules, refusals, started, false);
  }

  /**
   * Linking modules, when enabled: each one's probe state (remembered, or probed now within the
   * budget). A refusal found now is added to `refusals` (it is remembered by the probe as well).
   */
  private async probe(
    modules: readonly ZohoModule[],
    refusals: Record<string, ModuleRefusal>,
    signal: AbortSignal | undefined,
  ): Promise<Record<string, ProbeState>> {
    const classify = this.opts.classify ?? {};
    const { probe } = this.opts;
    if (!probe || !classify.linking) return {};
    const wanted = modules
      .filter((m) => needsProbe(m, refusals[m.api_name], classify))
      .map((m) => m.api_name);
    if (!wanted.length) return {};
    const outcomes = await probe.states(wanted, {
      deadline: this.now() + (this.opts.probeBudgetMs ?? PROBE_BUDGET_MS),
      ...(signal ? { signal } : {}),
    });
    const states: Record<string, ProbeState> = {};
    for (const [name, r] of Object.entries(outcomes)) {
      if (r.state === 'refused')
        refusals[name] = { code: r.code, refused_at: new Date(this.now()).toISOString() };
      else states[name] = r;
    }
    return states;
  }

  /** The refusals remembered for these modules. */
  private async refusalsOf(names: string[]): Promise<Record<string, ModuleRefusal>> {
    const { table } = this.opts;
    const limit = pLimit(REFUSAL_READS);
    const out: Record<string, ModuleRefusal> = {};
    await Promise.all(
      names.map((name) =>
        limit(async () => {
          const key = refusalKey(name);
          const r = parseOptionalRecord(refusalItem, await table.get(key), { table: table.name, key });
          if (r) out[name] = { code: r.code, refused_at: new Date(r.refused_at).toISOString() };
        }),
      ),
    );
    return out;
  }

  /**
   * Zoho refused an export of `module` with `code`: remembered if the code says Bulk Read will not
   * export it (`codes`: REFUSAL_CODES for an export, PROBE_REFUSAL_CODES for a probe job), and the
   * cached list made stale. True when written.
   */
  async recordRefusal(
    module: string,
    code: string,
    codes: ReadonlySet<string> = REFUSAL_CODES,
  ): Promise<boolean> {
    if (!codes.has(code)) return false;
    const { table } = this.opts;
    const now = this.now();
    const written = await table.update(
      refusalKey(module),
      { set: { module, code, refused_at: now, expires_at: Math.floor((now + REFUSAL_TTL_MS) / 1000) } },
      or(missing('pk'), ne('code', code), lt('refused_at', now - REFUSAL_REWRITE_MS)),
    );
    if (written === false) return false;
    // The one unconditional write here: a counter, like lib/callbacks/health.ts `rejected` (every
    // increment must land; a condition could only lose one).
    await table.update(CACHE_KEY, { add: { refusal_seq: 1 } });
    return true;
  }
}
