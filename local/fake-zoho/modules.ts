/**
 * GET /crm/{version}/settings/modules (scope ZohoCRM.settings.modules.READ / .ALL, or
 * ZohoCRM.settings.ALL): the modules of a realistic org, in the shape of Zoho's v7 "GET Modules"
 * sample (only the keys discovery reads, plus a few that every module has): the standard modules the
 * fake has record stores for, custom modules, the four inventory subforms with their parents, field
 * trackers, linking modules, modules Zoho says are not API-supported, system-hidden ones (Notes and
 * Attachments say `api_supported: true`, and Bulk Read refuses them: create.ts answers
 * MODULE_NOT_SUPPORTED), and `Locking_Information__s`, which looks exportable and which Bulk Read
 * refuses only when tried (BULK_REFUSED_WHEN_TRIED), as it refuses the linking module LeadsXProducts
 * (Contacts_X_Accounts exports: fields.ts LINKING_MODULES).
 * DealHistory (the Deals stage history, a field
 * tracker) has a record store (fields.ts FIELD_TRACKER_PARENTS) and exports like any module. The
 * run-time option `extraModules` appends custom modules (the bench's `Bench_NN__c`); the default org
 * has none.
 *
 * `status=` (a comma list of visible, user_hidden, system_hidden, scheduled_for_deletion) filters; an
 * unknown status is INVALID_DATA. Without it, every module is listed (Zoho: "modules removed from
 * Organize will also be fetched").
 */
import { zohoError } from './errors.js';
import { moduleApiId, SUBFORM_PARENTS, SUPPORTED_MODULES } from './fields.js';
import { sendJson } from './http-util.js';
import { authenticate, requireModulesScope } from './oauth.js';
import type { Ctx, Runtime } from './state.js';

const STATUSES = ['visible', 'user_hidden', 'system_hidden', 'scheduled_for_deletion'] as const;
type Status = (typeof STATUSES)[number];

export interface FakeModule {
  apiName: string;
  label: string;
  generatedType: 'default' | 'custom' | 'subform' | 'linking' | 'field_tracker' | 'web';
  status: Status;
  apiSupported: boolean;
  parent?: string;
  showAsTab?: boolean;
}

const ACTIVITIES = new Set(['Tasks', 'Events', 'Calls']);
const label = (apiName: string): string => apiName.replace(/__[cs]$/, '').replace(/_/g, ' ');

/** The org's modules, in Zoho's sequence order. */
export const FAKE_MODULES: readonly FakeModule[] = [
  { apiName: 'Home', label: 'Home', generatedType: 'default', status: 'visible', apiSupported: false },
  { apiName: 'Reports', label: 'Reports', generatedType: 'default', status: 'visible', apiSupported: false },
  { apiName: 'Feeds', label: 'Feeds', generatedType: 'default', status: 'visible', apiSupported: false },
  {
    apiName: 'Activities',
    label: 'Activities',
    generatedType: 'default',
    status: 'visible',
    apiSupported: true,
  },
  // The record modules but the line items (listed below as subforms of their parents).
  ...SUPPORTED_MODULES.filter((m) => !(m in SUBFORM_PARENTS)).map(
    (m): FakeModule => ({
      apiName: m,
      label: label(m),
      generatedType: 'default',
      status: 'visible',
      apiSupported: true,
      ...(ACTIVITIES.has(m) ? { parent: 'Activities' } : {}),
    }),
  ),
  { apiName: 'Emails', label: 'Emails', generatedType: 'default', status: 'visible', apiSupported: false },
  {
    apiName: 'Notes',
    label: 'Notes',
    generatedType: 'default',
    status: 'system_hidden',
    apiSupported: true,
    showAsTab: false,
  },
  {
    apiName: 'Attachments',
    label: 'Attachments',
    generatedType: 'default',
    status: 'system_hidden',
    apiSupported: true,
    showAsTab: false,
  },
  {
    apiName: 'Actions_Performed',
    label: 'Actions Performed',
    generatedType: 'default',
    status: 'system_hidden',
    apiSupported: true,
    showAsTab: false,
  },
  // The line items (fields.ts SUBFORM_PARENTS: the same modules the record stores serve).
  ...Object.entries(SUBFORM_PARENTS).map(
    ([apiName, parent]): FakeModule => ({
      apiName,
      label: label(apiName),
      generatedType: 'subform',
      status: 'visible',
      apiSupported: true,
      parent,
      showAsTab: false,
    }),
  ),
  {
    apiName: 'DealHistory',
    label: 'Stage History',
    generatedType: 'field_tracker',
    status: 'visible',
    apiSupported: true,
    parent: 'Deals',
    showAsTab: false,
  },
  {
    apiName: 'Shipments__c',
    label: 'Shipments',
    generatedType: 'custom',
    status: 'visible',
    apiSupported: true,
  },
  {
    apiName: 'Site_Visits__c',
    label: 'Site Visits',
    generatedType: 'custom',
    status: 'user_hidden',
    apiSupported: true,
  },
  {
    apiName: 'Old_Surveys__c',
    label: 'Old Surveys',
    generatedType: 'custom',
    status: 'scheduled_for_deletion',
    apiSupported: true,
  },
  {
    apiName: 'Contacts_X_Accounts',
    label: 'Contacts X Accounts',
    generatedType: 'linking',
    status: 'visible',
    apiSupported: true,
    showAsTab: false,
  },
  {
    apiName: 'LeadsXProducts',
    label: 'LeadsXProducts',
    generatedType: 'linking',
    status: 'visible',
    apiSupported: true,
    showAsTab: false,
  },
  {
    apiName: 'Locking_Information__s',
    label: 'Locking Information',
    generatedType: 'default',
    status: 'visible',
    apiSupported: true,
  },
];

/** Listed as exportable-looking, refused by Bulk Read's create (MODULE_NOT_SUPPORTED) when tried. */
export const BULK_REFUSED_WHEN_TRIED = ['Locking_Information__s', 'LeadsXProducts'];

function render(m: FakeModule, seq: number): Record<string, unknown> {
  return {
    api_name: m.apiName,
    module_name: m.apiName.replace(/_/g, ''),
    plural_label: m.label,
    singular_label: m.label,
    id: moduleApiId(m.apiName),
    generated_type: m.generatedType,
    api_supported: m.apiSupported,
    status: m.status,
    visibility: m.status === 'visible' ? 1 : 0,
    show_as_tab: m.showAsTab ?? m.status === 'visible',
    viewable: true,
    sequence_number: seq + 1,
    modified_time: null,
    parent_module: m.parent ? { api_name: m.parent, id: moduleApiId(m.parent) } : {},
  };
}

export function handleModules(rt: Runtime, ctx: Ctx): void {
  if (ctx.req.method !== 'GET') throw zohoError('INVALID_REQUEST_METHOD');
  const auth = authenticate(rt, ctx);
  requireModulesScope(auth);
  const raw = ctx.url.searchParams.get('status');
  let wanted: Set<string> | undefined;
  if (raw !== null) {
    wanted = new Set(raw.split(',').map((s) => s.trim()));
    for (const s of wanted) {
      if (!(STATUSES as readonly string[]).includes(s))
        throw zohoError('INVALID_DATA', { api_name: 'status' });
    }
  }
  const extra = rt.opts.extraModules.map(
    (apiName): FakeModule => ({
      apiName,
      label: label(apiName),
      generatedType: 'custom',
      status: 'visible',
      apiSupported: true,
    }),
  );
  const modules = [...FAKE_MODULES, ...extra]
    .map(render)
    .filter((m) => !wanted || wanted.has(String(m.status)));
  sendJson(ctx, 200, { modules });
}
