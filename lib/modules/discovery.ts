/**
 * Module discovery, the pure half: each module Zoho lists (`GET /settings/modules`) classified by kind
 * and by whether Bulk Read can export it, with the reason when it cannot. Zoho has no Bulk Read flag,
 * and `api_supported` alone is wrong (Notes and Attachments say true and Bulk Read refuses them), so
 * the rule is Zoho's attributes, a deny-list of what Bulk Read is known to refuse, and what Zoho itself
 * refused when an export was tried (lib/modules/store.ts remembers it).
 * Sources: /work/shared/reference/tables-and-modules.md §1a (Zoho's modules doc, Bulk Read limitations,
 * Estuary's deny-list).
 */
import type { ZohoModule } from '../zoho/modules.js';

export const MODULE_KINDS = [
  'standard',
  'custom',
  'subform',
  'linking',
  'field_tracker',
  'web',
  'other',
] as const;
export type ModuleKind = (typeof MODULE_KINDS)[number];

/** Why a module cannot be exported; each has its own sentence in `detail`. */
export const NOT_EXPORTABLE_REASONS = [
  'not_api_supported',
  'zoho_refused',
  'bulk_read_unsupported',
  'use_child_modules',
  'system_hidden',
  'scheduled_for_deletion',
  'linking_not_enabled',
  'probe_pending',
  'not_a_data_module',
] as const;
export type NotExportableReason = (typeof NOT_EXPORTABLE_REASONS)[number];

/** A refusal Zoho gave when an export of the module was tried (remembered in the state table). */
export interface ModuleRefusal {
  /** Zoho's code: MODULE_NOT_SUPPORTED or INVALID_MODULE. */
  code: string;
  /** When, ISO. */
  refused_at: string;
}

/** The parent's multi-select lookup field that a linking module's rows stand for (one row per link). */
export interface Supersedes {
  /** The parent module, whose export carries the field as undocumented text. */
  module: string;
  /** The field (`data_type: multiselectlookup`). */
  field: string;
}

/**
 * What the probe of a linking module found (lib/modules/probe.ts); a refusal is a `ModuleRefusal`.
 * `pending`: not proven yet (not tried within the request's budget, being tried elsewhere, or Zoho
 * unreachable or answering something that says nothing about the module).
 */
export type ProbeState =
  | { state: 'accepted'; at: string; supersedes: Supersedes | null }
  | { state: 'pending'; detail: string };

/** One module as `GET /modules` answers it. */
export interface ModuleInfo {
  api_name: string;
  label: string;
  kind: ModuleKind;
  /** Zoho's `generated_type` as it came (null when absent). */
  generated_type: string | null;
  /** Zoho's `status`: visible, user_hidden, system_hidden, scheduled_for_deletion. */
  status: string | null;
  /** The parent of a subform or field tracker (and Activities for Tasks, Calls, Events), else null. */
  parent: string | null;
  exportable: boolean;
  /** Null when exportable. */
  reason: NotExportableReason | null;
  /** The reason as a sentence (with Zoho's code for a remembered refusal); null when exportable. */
  detail: string | null;
  /** A proven linking module: the parent's multi-select lookup field it supersedes (if found), else null. */
  supersedes: Supersedes | null;
}

/**
 * Modules Bulk Read refuses although Zoho lists them as API-supported: Zoho's own list ("all modules
 * except Notes, Attachments, Emails") and what Estuary found (CTI_Entry: INVALID_MODULE;
 * Email_Analytics, Email_Template_Analytics, Functions__s: INVALID_QUERY).
 */
export const BULK_READ_DENY_LIST: ReadonlyMap<string, string> = new Map([
  ['Notes', "Zoho's Bulk Read does not export Notes"],
  ['Attachments', "Zoho's Bulk Read does not export Attachments"],
  ['Emails', "Zoho's Bulk Read does not export Emails"],
  ['CTI_Entry', "Zoho's Bulk Read answers INVALID_MODULE for CTI_Entry"],
  ['Email_Analytics', "Zoho's Bulk Read answers INVALID_QUERY for Email_Analytics"],
  ['Email_Template_Analytics', "Zoho's Bulk Read answers INVALID_QUERY for Email_Template_Analytics"],
  ['Functions__s', "Zoho's Bulk Read answers INVALID_QUERY for Functions__s"],
]);

/** Zoho's codes that say "Bulk Read will not export this module": remembered when an export gets one. */
export const REFUSAL_CODES: ReadonlySet<string> = new Set(['MODULE_NOT_SUPPORTED', 'INVALID_MODULE']);

/**
 * What a probe job's refusal may mean beyond REFUSAL_CODES. The probe asks for `id` only, with no
 * criteria, page or cvid, so Zoho's generic rejections of the query or job can only be about the module
 * (Estuary met INVALID_QUERY for whole modules). Scope, permission and field codes are not here: they
 * say nothing about whether Bulk Read exports the module, and are never remembered as its refusal.
 */
export const PROBE_REFUSAL_CODES: ReadonlySet<string> = new Set([
  ...REFUSAL_CODES,
  'MODULE_NOT_AVAILABLE',
  'INVALID_QUERY',
  'QUERY_NOT_SUPPORTED',
  'JOB_NOT_SUPPORTED',
  'INVALID_BULK_OPERATION',
  'NOT_SUPPORTED_FEATURE',
]);

const KIND_OF: Record<string, ModuleKind> = {
  default: 'standard',
  custom: 'custom',
  subform: 'subform',
  linking: 'linking',
  field_tracker: 'field_tracker',
  web: 'web',
};

export function kindOf(generatedType: string | null): ModuleKind {
  return (generatedType !== null && KIND_OF[generatedType]) || 'other';
}

export interface ClassifyOptions {
  /**
   * Whether linking modules (multi-select lookups' hidden modules) are candidates (EXPORT_LINKING_MODULES).
   * Off by default: Zoho says Bulk Read exports them, Estuary excludes them. On, each one is exportable
   * only once its probe job was accepted (`ProbeState`); until then `probe_pending`.
   */
  linking?: boolean;
}

type Verdict = { reason: NotExportableReason; detail: string } | undefined;

function verdict(
  m: ZohoModule,
  kind: ModuleKind,
  refusal: ModuleRefusal | undefined,
  opts: ClassifyOptions,
  probe: ProbeState | undefined,
): Verdict {
  if (!m.api_supported)
    return { reason: 'not_api_supported', detail: 'Zoho says the module is not accessible through its API' };
  // What Zoho answered when it was tried is the best evidence there is.
  if (refusal) {
    return {
      reason: 'zoho_refused',
      detail: `Zoho's Bulk Read refused an export of ${m.api_name} with ${refusal.code} (${refusal.refused_at})`,
    };
  }
  const denied = BULK_READ_DENY_LIST.get(m.api_name);
  if (denied) return { reason: 'bulk_read_unsupported', detail: denied };
  if (m.api_name === 'Activities') {
    return {
      reason: 'use_child_modules',
      detail: 'Activities groups Tasks, Calls and Events: export each of them',
    };
  }
  if (m.status === 'system_hidden')
    return { reason: 'system_hidden', detail: 'Zoho hides the module from users (system_hidden)' };
  if (m.status === 'scheduled_for_deletion')
    return { reason: 'scheduled_for_deletion', detail: 'the module is scheduled for deletion in Zoho' };
  if (kind === 'linking' && !opts.linking) {
    return {
      reason: 'linking_not_enabled',
      detail:
        'a linking module (of a multi-select lookup): linking modules are not exported unless enabled (EXPORT_LINKING_MODULES)',
    };
  }
  if (kind === 'linking' && probe?.state !== 'accepted') {
    return {
      reason: 'probe_pending',
      detail: `a linking module not proven yet: a one-time probe job decides whether Bulk Read exports it${
        probe ? ` (${probe.detail})` : ''
      }`,
    };
  }
  if (kind === 'web' || kind === 'other') {
    return {
      reason: 'not_a_data_module',
      detail: `Zoho's generated_type ${m.generated_type ?? '(none)'} is not a module of records Bulk Read exports`,
    };
  }
  return undefined;
}

/**
 * One module's classification. `refusal`: Zoho's refusal of an export of it, if one is remembered;
 * `probe`: what the probe of a linking module found.
 */
export function classifyModule(
  m: ZohoModule,
  refusal?: ModuleRefusal,
  opts: ClassifyOptions = {},
  probe?: ProbeState,
): ModuleInfo {
  const kind = kindOf(m.generated_type);
  const v = verdict(m, kind, refusal, opts, probe);
  return {
    api_name: m.api_name,
    label: m.label,
    kind,
    generated_type: m.generated_type,
    status: m.status,
    parent: m.parent,
    exportable: v === undefined,
    reason: v?.reason ?? null,
    detail: v?.detail ?? null,
    supersedes: v === undefined && probe?.state === 'accepted' ? probe.supersedes : null,
  };
}

/** Whether `m` is a linking module the probe must prove (enabled, and nothing else rules it out). */
export function needsProbe(
  m: ZohoModule,
  refusal: ModuleRefusal | undefined,
  opts: ClassifyOptions,
): boolean {
  return (
    opts.linking === true &&
    kindOf(m.generated_type) === 'linking' &&
    verdict(m, 'linking', refusal, opts, { state: 'accepted', at: '', supersedes: null }) === undefined
  );
}

/** Every module, sorted by API name. */
export function classifyModules(
  modules: readonly ZohoModule[],
  refusals: Readonly<Record<string, ModuleRefusal>>,
  opts: ClassifyOptions = {},
  probes: Readonly<Record<string, ProbeState>> = {},
): ModuleInfo[] {
  return modules
    .map((m) => classifyModule(m, refusals[m.api_name], opts, probes[m.api_name]))
    .sort((a, b) => (a.api_name < b.api_name ? -1 : a.api_name > b.api_name ? 1 : 0));
}
