/**
 * Bulk read criteria: validation at create time and evaluation against a record store.
 *
 * Validation follows the reference's comparator table per data type. Where the reference is silent the
 * fake is strict: a datetime value must be `yyyy-MM-ddTHH:mm:ss±hh:mm` (no `Z`, no milliseconds), a date
 * value `yyyy-MM-dd`; criteria on multi-line (textarea) fields are refused (Zoho: "not supported").
 *
 * LIMITATION: only leaves on `id`, `Created_Time` and `Modified_Time` filter records. Leaves on any other
 * field pass validation but match every record (they do not change a job's count or rows).
 */
import { zohoError } from './errors.js';
import { type DataType, recordIdBase, schemaFor } from './fields.js';
import type { RecordView } from './records.js';
import { DATE_RE, parseZohoDateTime } from './vocab.js';

export const COMPARATORS = new Set([
  'equal',
  'not_equal',
  'in',
  'not_in',
  'less_than',
  'less_equal',
  'greater_than',
  'greater_equal',
  'contains',
  'not_contains',
  'starts_with',
  'ends_with',
  'between',
  'not_between',
]);

export const MAX_CRITERIA = 25;

const NUMBER_CMP = [
  'equal',
  'not_equal',
  'in',
  'not_in',
  'less_than',
  'less_equal',
  'greater_than',
  'greater_equal',
];
const TEXT_CMP = [
  'equal',
  'not_equal',
  'in',
  'not_in',
  'contains',
  'not_contains',
  'starts_with',
  'ends_with',
];
const DATE_CMP = [...NUMBER_CMP, 'between', 'not_between'];
const LOOKUP_CMP = ['equal', 'not_equal', 'in', 'not_in'];

type Family = 'number' | 'text' | 'date' | 'datetime' | 'boolean' | 'lookup' | 'none';

function familyOf(t: DataType): Family {
  switch (t) {
    case 'integer':
    case 'bigint':
    case 'double':
    case 'currency':
    case 'percent':
    case 'decimal':
    case 'formula':
      return 'number';
    case 'date':
      return 'date';
    case 'datetime':
      return 'datetime';
    case 'boolean':
      return 'boolean';
    case 'lookup':
    case 'ownerlookup':
      return 'lookup';
    case 'textarea':
    case 'profileimage':
    case 'multiselectlookup':
      return 'none';
    default:
      return 'text';
  }
}

const COMPARATORS_OF: Record<Family, string[]> = {
  number: NUMBER_CMP,
  text: TEXT_CMP,
  date: DATE_CMP,
  datetime: DATE_CMP,
  boolean: ['equal'],
  lookup: LOOKUP_CMP,
  none: [],
};

export function leafApiName(o: Record<string, unknown>): string | undefined {
  const f = o.field as Record<string, unknown> | undefined;
  if (f && typeof f === 'object' && typeof f.api_name === 'string') return f.api_name;
  if (typeof o.api_name === 'string') return o.api_name;
  return undefined;
}

/** The criteria value that matches an empty field. */
const EMPTY = ['$', '{EMPTY}'].join('');

function valueFits(family: Family, v: unknown): boolean {
  if (v === EMPTY) return true;
  switch (family) {
    case 'number':
      return (
        (typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v))
      );
    case 'lookup':
      return (
        (typeof v === 'string' && /^\d{1,19}$/.test(v)) || (typeof v === 'number' && Number.isInteger(v))
      );
    case 'datetime':
      return typeof v === 'string' && parseZohoDateTime(v) !== undefined;
    case 'date':
      return typeof v === 'string' && DATE_RE.test(v);
    case 'boolean':
      return typeof v === 'boolean' || v === 'true' || v === 'false';
    case 'text':
      return (typeof v === 'string' && v.length <= 255) || typeof v === 'number' || typeof v === 'boolean';
    default:
      return false;
  }
}

/** Validates a criteria tree for `module`; returns the number of leaves. Throws Zoho errors. */
export function validateCriteria(c: unknown, module: string | undefined): number {
  if (!c || typeof c !== 'object' || Array.isArray(c))
    throw zohoError('INVALID_CRITERIA', {}, JSON.stringify(c));
  const o = c as Record<string, unknown>;
  const isGroup = 'group' in o || 'group_operator' in o;
  const isLeaf = 'comparator' in o || 'field' in o || 'api_name' in o || 'value' in o;
  const text = JSON.stringify(c);
  if (isGroup && isLeaf) throw zohoError('AMBIGUOUS_CRITERIA', {}, text);
  if (isGroup) {
    const op = typeof o.group_operator === 'string' ? o.group_operator.toLowerCase() : '';
    if (op !== 'and' && op !== 'or') {
      throw zohoError(
        'GROUP_OPERATOR_NOT_SUPPORTED',
        { group_operator: o.group_operator ?? null },
        text,
        o.group_operator,
      );
    }
    if (!Array.isArray(o.group) || o.group.length === 0) throw zohoError('INVALID_CRITERIA', {}, text);
    if (o.group.length === 1) throw zohoError('AMBIGUOUS_GROUP_IN_CRITERIA', {}, text);
    let n = 0;
    for (const g of o.group) n += validateCriteria(g, module);
    return n;
  }
  const apiName = leafApiName(o);
  if (!apiName) throw zohoError('INVALID_CRITERIA', {}, text);
  const comparator = o.comparator;
  if (typeof comparator !== 'string' || !COMPARATORS.has(comparator)) {
    throw zohoError(
      'FIELD_COMPARATOR_IN_CRITERIA_NOT_SUPPORTED',
      { api_name: apiName, comparator: comparator ?? null },
      apiName,
      comparator,
      text,
    );
  }
  if (!('value' in o)) throw zohoError('INVALID_CRITERIA', { api_name: apiName }, text);
  const v = o.value;
  const wantsArray = comparator === 'in' || comparator === 'not_in';
  const wantsPair = comparator === 'between' || comparator === 'not_between';
  const badShape =
    (wantsPair && !(Array.isArray(v) && v.length === 2)) ||
    (wantsArray && !(Array.isArray(v) && v.length > 0) && typeof v !== 'string') ||
    (!wantsPair && !wantsArray && (Array.isArray(v) || (v !== null && typeof v === 'object')));
  if (badShape) {
    throw zohoError(
      'COMPARATOR_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE',
      { api_name: apiName, comparator },
      comparator,
      JSON.stringify(v),
      text,
    );
  }
  if (module === undefined) return 1;

  // field and type checks
  const family = fieldFamily(module, apiName);
  if (family === undefined || family === 'none') {
    throw zohoError('FIELD_IN_CRITERIA_NOT_SUPPORTED', { api_name: apiName }, apiName, text);
  }
  const allowed = COMPARATORS_OF[family];
  if (!allowed.includes(comparator)) {
    throw zohoError(
      'FIELD_COMPARATOR_IN_CRITERIA_NOT_SUPPORTED',
      { api_name: apiName, comparator, supported: allowed },
      apiName,
      comparator,
      text,
    );
  }
  const values = Array.isArray(v) ? v : wantsArray && typeof v === 'string' ? v.split(',') : [v];
  for (const x of values) {
    if (!valueFits(family, x)) {
      throw zohoError(
        'FIELD_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE',
        { api_name: apiName, value: x ?? null },
        apiName,
        JSON.stringify(x),
        text,
      );
    }
  }
  return 1;
}

function fieldFamily(module: string, apiName: string): Family | undefined {
  const schema = schemaFor(module);
  const dot = apiName.indexOf('.');
  if (dot > 0) {
    // Lookup dot notation: the parent must be a lookup; the target is compared as text.
    const base = schema.byName.get(apiName.slice(0, dot));
    return base && (base.dataType === 'lookup' || base.dataType === 'ownerlookup') ? 'text' : undefined;
  }
  if (apiName === 'id') return 'number';
  const def = schema.byName.get(apiName);
  return def ? familyOf(def.dataType) : undefined;
}

// ---------------------------------------------------------------- evaluation

export type Predicate = (r: RecordView) => boolean;

const TRUE: Predicate = () => true;

function cmp(comparator: string, x: number, values: number[]): boolean {
  const a = values[0] ?? Number.NaN;
  switch (comparator) {
    case 'equal':
      return x === a;
    case 'not_equal':
      return x !== a;
    case 'in':
      return values.includes(x);
    case 'not_in':
      return !values.includes(x);
    case 'less_than':
      return x < a;
    case 'less_equal':
      return x <= a;
    case 'greater_than':
      return x > a;
    case 'greater_equal':
      return x >= a;
    case 'between':
      return x >= a && x <= (values[1] ?? Number.NaN);
    case 'not_between':
      return !(x >= a && x <= (values[1] ?? Number.NaN));
    default:
      return true;
  }
}

/** Maps an id value to the module's index space (ids are base + index + 1), keeping order. */
function idToIndex(base: bigint, v: unknown): number {
  let big: bigint;
  try {
    big = BigInt(String(v));
  } catch {
    return Number.NaN;
  }
  const n = big - base - 1n;
  if (n < -1n) return -2; // below every id of the module
  if (n > 2_000_000_000n) return 2_000_000_001; // above every id
  return Number(n);
}

/**
 * A predicate over the records of `module` for a validated criteria tree, or undefined when nothing
 * filters (no criteria, or only leaves the fake does not evaluate).
 */
export function compileCriteria(c: unknown, module: string): Predicate | undefined {
  const p = compile(c, module);
  return p === TRUE ? undefined : p;
}

function compile(c: unknown, module: string): Predicate {
  if (!c || typeof c !== 'object') return TRUE;
  const o = c as Record<string, unknown>;
  if (Array.isArray(o.group)) {
    const parts = o.group.map((g) => compile(g, module));
    const or = String(o.group_operator).toLowerCase() === 'or';
    if (or) {
      if (parts.includes(TRUE)) return TRUE;
      return (r) => parts.some((p) => p(r));
    }
    const real = parts.filter((p) => p !== TRUE);
    if (real.length === 0) return TRUE;
    if (real.length === 1) return real[0]!;
    return (r) => real.every((p) => p(r));
  }
  const apiName = leafApiName(o);
  const comparator = String(o.comparator);
  const raw = Array.isArray(o.value)
    ? o.value
    : (comparator === 'in' || comparator === 'not_in') && typeof o.value === 'string'
      ? o.value.split(',')
      : [o.value];
  if (raw.includes(EMPTY)) {
    // id and the record times are never empty.
    if (apiName === 'id' || apiName === 'Created_Time' || apiName === 'Modified_Time') {
      const negative = comparator === 'not_equal' || comparator === 'not_in';
      return negative ? TRUE : () => false;
    }
    return TRUE;
  }
  if (apiName === 'Created_Time' || apiName === 'Modified_Time') {
    const values = raw.map((v) => parseZohoDateTime(String(v)) ?? Number.NaN);
    const created = apiName === 'Created_Time';
    return (r) => cmp(comparator, created ? r.createdMs : r.modifiedMs, values);
  }
  if (apiName === 'id') {
    const base = recordIdBase(module);
    const values = raw.map((v) => idToIndex(base, v));
    return (r) => cmp(comparator, r.n, values);
  }
  return TRUE;
}
