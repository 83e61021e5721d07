/**
 * GET /crm/{version}/settings/fields?module=<Module> (v2 … v8): the field metadata of fields.ts in
 * Zoho's key names. Keys that only apply to some types (pick_list_values,
 * lookup, currency, formula, textarea, auto_number) are present only on those fields.
 *
 * The padding column (`Long_Text__c`, a large textarea) is listed when the fake pads HTTP jobs
 * (option `padding` > 0), so every CSV column of such a job has metadata.
 */

import { checkModule } from './create.js';
import { PADDING_COLUMN } from './csv.js';
import { zohoError } from './errors.js';
import { type FieldDef, fieldId, JSON_TYPE, schemaFor } from './fields.js';
import { sendJson } from './http-util.js';
import { authenticate, requireFieldsScope } from './oauth.js';
import type { Ctx, Runtime } from './state.js';
import type { RowCtx } from './vocab.js';

function render(module: string, f: FieldDef): Record<string, unknown> {
  const out: Record<string, unknown> = {
    api_name: f.apiName,
    data_type: f.dataType,
    json_type: JSON_TYPE[f.dataType],
    decimal_place: f.decimalPlace,
    length: f.length,
    field_label: f.label,
    display_label: f.label,
    id: fieldId(module, f.apiName),
    system_mandatory: f.mandatory === true,
    read_only: f.readOnly === true,
    custom_field: f.custom === true,
    visible: true,
  };
  if (f.picklist) {
    out.pick_list_values = [
      ...(f.dataType === 'picklist' ? [{ display_value: '-None-', actual_value: '-None-' }] : []),
      ...f.picklist.map((v) => ({ display_value: v, actual_value: v })),
    ];
  }
  if (f.lookupModule) {
    out.lookup = { module: { api_name: f.lookupModule, id: schemaModuleId(f.lookupModule) } };
  }
  if (f.dataType === 'ownerlookup')
    out.lookup = { module: { api_name: 'users', id: schemaModuleId('users') } };
  if (f.linking) {
    // Zoho's keys (analytics-output.md): multiselectlookup.linking_details.{module, lookup_field, connected_lookup_field}.
    out.multiselectlookup = {
      linking_details: {
        module: { api_name: f.linking.module, id: schemaModuleId(f.linking.module) },
        lookup_field: {
          api_name: f.linking.lookupField,
          id: fieldId(f.linking.module, f.linking.lookupField),
        },
        connected_lookup_field: {
          api_name: f.linking.connectedField,
          id: fieldId(f.linking.module, f.linking.connectedField),
        },
      },
      connected_module: {
        api_name: f.linking.connectedModule,
        id: schemaModuleId(f.linking.connectedModule),
      },
    };
  }
  if (f.dataType === 'currency') out.currency = { precision: 2, rounding_option: 'normal' };
  if (f.dataType === 'formula') out.formula = { return_type: f.formulaReturn ?? 'double' };
  if (f.dataType === 'textarea') out.textarea = { type: f.textareaType ?? 'small' };
  if (f.autoNumber) {
    out.auto_number = {
      prefix: f.autoNumber.prefix,
      suffix: f.autoNumber.suffix,
      start_number: f.autoNumber.start,
    };
  }
  return out;
}

function schemaModuleId(module: string): string {
  return fieldId('$modules', module);
}

/** The metadata the fields endpoint answers for a module (also used by tests and the admin API). */
export function fieldsMetadata(
  rt: { readonly opts: Pick<Runtime['opts'], 'padding'> },
  module: string,
): Record<string, unknown>[] {
  const schema = schemaFor(module);
  const out = schema.fields.map((f) => render(module, f));
  if (rt.opts.padding > 0) {
    out.push(
      render(module, {
        apiName: PADDING_COLUMN,
        dataType: 'textarea',
        label: 'Long Text',
        length: 32000,
        decimalPlace: null,
        custom: true,
        textareaType: 'large',
        gen: (c: RowCtx) => c.id,
      }),
    );
  }
  return out;
}

export function handleFields(rt: Runtime, ctx: Ctx): void {
  if (ctx.req.method !== 'GET') throw zohoError('INVALID_REQUEST_METHOD');
  const auth = authenticate(rt, ctx);
  requireFieldsScope(auth);
  const module = ctx.url.searchParams.get('module');
  if (!module) throw zohoError('REQUIRED_PARAM_MISSING', { param: 'module' });
  checkModule(rt, module, false);
  sendJson(ctx, 200, { fields: fieldsMetadata(rt, module) });
}
