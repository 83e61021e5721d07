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
   * Whether linking modules (multi-select lookups' hidden modules) count as exportable. Off by default:
   * Zoho says Bulk Read exports them, Estuary excludes them; unproven, so opt-in.
   */
  linking?: boolean;
}

type Verdict = { reason: NotExportableReason; detail: string } | undefined;

function verdict(
  m: ZohoModule,
  kind: ModuleKind,
  refusal: ModuleRefusal | undefined,
  opts: ClassifyOptions,
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
      detail: 'a linking module (of a multi-select lookup): linking modules are not exported unless enabled',
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

/** One module's classification. `refusal`: Zoho's refusal of an export of it, if one is remembered. */
export function classifyModule(
  m: ZohoModule,
  refusal?: ModuleRefusal,
  opts: ClassifyOptions = {},
): ModuleInfo {
  const kind = kindOf(m.generated_type);
  const v = verdict(m, kind, refusal, opts);
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
  };
}

/** Every module, sorted by API name. */
export function classifyModules(
  modules: readonly ZohoModule[],
  refusals: Readonly<Record<string, ModuleRefusal>>,
  opts: ClassifyOptions = {},
): ModuleInfo[] {
  return modules
    .map((m) => classifyModule(m, refusals[m.api_name], opts))
    .sort((a, b) => (a.api_name < b.api_name ? -1 : a.api_name > b.api_name ? 1 : 0));
}
