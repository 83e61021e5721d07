/**
 * Line items (subform modules): `Quoted_Items`, `Ordered_Items`, `Invoiced_Items`, `Purchase_Items` and
 * custom subforms. Zoho's deleted-records API does not cover them and nothing says an edited line item
 * moves its parent's Modified_Time, so an incremental run could never see a removed line item. Every
 * run of a subform schedule is therefore a full export: `_current` (the latest full export) is then
 * exactly the line items at Zoho, and `_history` closes a line item absent from a later full export
 * (lib/tables/views.ts `absenceEnds`). See docs/schedules.md "Line items (subforms)".
 */

/** The inventory line-item modules every Zoho CRM org with inventory has (generated_type "subform"). */
export const KNOWN_SUBFORM_MODULES: readonly string[] = [
  'Quoted_Items',
  'Ordered_Items',
  'Invoiced_Items',
  'Purchase_Items',
];

/**
 * Says whether a module is a subform. The default knows the inventory line items; module discovery
 * (`GET /settings/modules`, generated_type "subform") can supply one that also knows custom subforms.
 */
export type SubformPredicate = (module: string) => boolean;

export const knownSubform: SubformPredicate = (module) => KNOWN_SUBFORM_MODULES.includes(module);
