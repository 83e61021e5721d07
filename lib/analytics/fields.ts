import type { ColumnPlan, ColumnType, PlannedColumn } from './types.js';

/**
 * The part of a Zoho field's metadata (`GET /crm/v8/settings/fields?module=X`) that decides its
 * column type. Everything else in the response is ignored.
 */
export interface ZohoField {
  readonly api_name: string;
  readonly data_type?: string | undefined;
  readonly json_type?: string | undefined;
  readonly decimal_place?: number | null | undefined;
  readonly length?: number | null | undefined;
  readonly formula?: { readonly return_type?: string | undefined } | null | undefined;
  readonly rollup_summary?: { readonly return_type?: string | undefined } | null | undefined;
  /** A multi-select lookup's linking module (Zoho: `multiselectlookup.linking_details.module`). */
  readonly multiselectlookup?:
    | {
        readonly linking_details?:
          | { readonly module?: { readonly api_name: string } | null | undefined }
          | null
          | undefined;
      }
    | null
    | undefined;
}

export const REASON_NO_METADATA =
  'no field metadata (the Fields API was not called or refused: scope ZohoCRM.settings.fields.READ missing?)';
export const REASON_NOT_IN_METADATA = 'not listed in the field metadata';
export const REASON_SYSTEM_FIELD = 'system field of every module: typed without metadata';

/**
 * The fields every Zoho module has, with the same type everywhere, typed even without the metadata
 * scope: the record id and its times are what the `_current`/`_history` views order and join on, and a
 * table created untyped keeps its types for good (the table governs: lib/exports/schema.ts).
 */
const SYSTEM_FIELDS: ReadonlyMap<string, { type: ColumnType; zohoType: string }> = new Map([
  ['id', { type: { kind: 'int64' }, zohoType: 'id' }],
  ['Created_Time', { type: { kind: 'timestamp' }, zohoType: 'datetime' }],
  ['Modified_Time', { type: { kind: 'timestamp' }, zohoType: 'datetime' }],
]);

/** Largest DECIMAL precision stored as INT64 (18 digits always fit in a signed 64-bit integer). */
const INT64_DECIMAL_DIGITS = 18;
const MAX_DECIMAL_DIGITS = 38;
/** Zoho's default size of a currency or decimal field, in digits, when `length` is absent. */
const DEFAULT_NUMBER_LENGTH = 16;

const STRING: ColumnType = { kind: 'string' };
const INT64: ColumnType = { kind: 'int64' };

const LIST: ColumnType = { kind: 'list' };

/** DOUBLE or DECIMAL, by the field's `decimal_place` and `length` (see `numberType`). */
type Fixed = ColumnType | 'number';

/** The types a field's `data_type` and a formula's or rollup's `return_type` share. */
const VALUE_TYPES: ReadonlyArray<readonly [string, Fixed]> = [
  ['bigint', INT64],
  ['integer', INT64],
  ['long', INT64],
  ['double', 'number'],
  ['currency', 'number'],
  ['percent', 'number'],
  ['decimal', 'number'],
  ['boolean', { kind: 'boolean' }],
  ['date', { kind: 'date' }],
  ['datetime', { kind: 'timestamp' }],
];

/** `return_type` → type (a Map, so that a name such as `constructor` finds nothing). */
const RETURN_TYPES = new Map<string, Fixed>(VALUE_TYPES);

/** `data_type` → type, for the types that need nothing but the name. */
const DATA_TYPES = new Map<string, Fixed>([
  ...VALUE_TYPES,
  // The CSV column of a lookup (without dot notation) holds the related record's id.
  ['lookup', INT64],
  ['ownerlookup', INT64],
  ['userlookup', INT64],
  ['multiselectpicklist', LIST],
  // Auto-numbers carry a prefix and a suffix ("INV-0001-A"): text.
  ['autonumber', STRING],
]);

const resolve = (field: ZohoField, fixed: Fixed): ColumnType =>
  fixed === 'number' ? numberType(field) : fixed;

/**
 * The column type of one Zoho field. Returns the type and, for a type that falls back to STRING
 * for a reason worth telling (undocumented CSV form), that reason.
 */
export function columnTypeOf(field: ZohoField): { type: ColumnType; reason?: string } {
  const dataType = (field.data_type ?? '').toLowerCase();
  const fixed = DATA_TYPES.get(dataType);
  if (fixed !== undefined) return { type: resolve(field, fixed) };
  if (dataType === 'formula') return returnType(field, field.formula?.return_type);
  if (dataType === 'rollup_summary') return returnType(field, field.rollup_summary?.return_type);
  const linking = field.multiselectlookup?.linking_details?.module?.api_name;
  if (dataType === 'multiselectlookup' && linking) {
    // The column comment tells the reader where the links really are (docs/analytics.md). It says so
    // whatever EXPORT_LINKING_MODULES is (the converter does not read it): the links are the linking
    // module's rows either way, and the comment names the setting that exports them.
    return {
      type: STRING,
      reason: `multiselectlookup: superseded by the linking module ${linking}, one row per link (exported with EXPORT_LINKING_MODULES); kept as text`,
    };
  }
  if (field.json_type === 'jsonarray') {
    // multiselectlookup, subform, fileupload, imageupload, territories, tags…: their CSV form is
    // not documented, so the text is kept as it is rather than split on a guessed separator.
    return { type: STRING, reason: `${dataType || 'jsonarray'}: CSV form undocumented, kept as text` };
  }
  return { type: STRING };
}

function returnType(field: ZohoField, ret: string | undefined): { type: ColumnType; reason?: string } {
  const name = (ret ?? '').toLowerCase();
  if (name === '') return { type: STRING, reason: 'computed field without a return_type' };
  const fixed = RETURN_TYPES.get(name);
  return { type: fixed === undefined ? STRING : resolve(field, fixed) };
}

/**
 * DECIMAL(p, s) when Zoho says how many decimals the field keeps (`decimal_place`), so sums of
 * money are exact; DOUBLE when it does not. p is the field's digit count plus its decimals, at
 * least 18 (so small fields still use INT64 storage, as DuckDB and Spark do) and at most 38.
 */
function numberType(field: ZohoField): ColumnType {
  const scale = field.decimal_place;
  if (scale === null || scale === undefined || scale < 0 || scale > MAX_DECIMAL_DIGITS)
    return { kind: 'double' };
  const digits = (field.length ?? DEFAULT_NUMBER_LENGTH) + scale;
  const precision = Math.min(MAX_DECIMAL_DIGITS, Math.max(INT64_DECIMAL_DIGITS, digits));
  return { kind: 'decimal', precision, scale };
}

/**
 * The column plan for a CSV header: every header name in order, typed from the field metadata.
 * `fields` null or undefined: no metadata, every column STRING with that reason, but for the system
 * fields (`id`, `Created_Time`, `Modified_Time`), whose types are the same in every module.
 *
 * - `id` (the record id Zoho always adds) is INT64 when metadata exists.
 * - `Lookup.field` (dot notation: a field of a related record) is STRING.
 * - a header name the metadata does not list is STRING, with a reason.
 */
export function planColumns(
  header: readonly string[],
  fields: readonly ZohoField[] | null | undefined,
): ColumnPlan {
  if (!fields) {
    return header.map((name) => {
      const system = SYSTEM_FIELDS.get(name);
      return system
        ? { name, ...system, reason: REASON_SYSTEM_FIELD }
        : { name, type: STRING, reason: REASON_NO_METADATA };
    });
  }
  const byName = new Map<string, ZohoField>();
  for (const f of fields) byName.set(f.api_name, f);
  return header.map((name): PlannedColumn => {
    const field = byName.get(name);
    if (field) {
      const { type, reason } = columnTypeOf(field);
      return { name, type, zohoType: field.data_type, reason };
    }
    if (name === 'id') return { name, type: INT64, zohoType: 'id' };
    const dot = name.indexOf('.');
    if (dot > 0) {
      const parent = byName.get(name.slice(0, dot));
      if (parent)
        return { name, type: STRING, zohoType: parent.data_type, reason: 'field of a related record' };
    }
    return { name, type: STRING, reason: REASON_NOT_IN_METADATA };
  });
}
