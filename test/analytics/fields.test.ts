import { describe, expect, it } from 'vitest';
import {
  columnTypeOf,
  planColumns,
  REASON_NO_METADATA,
  REASON_NOT_IN_METADATA,
  REASON_SYSTEM_FIELD,
} from '../../lib/analytics/fields.js';
import { parseFieldsResponse } from '../../lib/analytics/fields-response.js';

describe('type mapping', () => {
  it('maps Zoho data types to column types', () => {
    const kind = (f: Parameters<typeof columnTypeOf>[0]) => columnTypeOf(f).type;
    expect(kind({ api_name: 'a', data_type: 'bigint' })).toEqual({ kind: 'int64' });
    expect(kind({ api_name: 'a', data_type: 'integer' })).toEqual({ kind: 'int64' });
    expect(kind({ api_name: 'a', data_type: 'lookup' })).toEqual({ kind: 'int64' });
    expect(kind({ api_name: 'a', data_type: 'ownerlookup' })).toEqual({ kind: 'int64' });
    expect(kind({ api_name: 'a', data_type: 'autonumber' })).toEqual({ kind: 'string' });
    expect(kind({ api_name: 'a', data_type: 'currency', decimal_place: 2, length: 16 })).toEqual({
      kind: 'decimal',
      precision: 18,
      scale: 2,
    });
    expect(kind({ api_name: 'a', data_type: 'decimal', decimal_place: 9, length: 20 })).toEqual({
      kind: 'decimal',
      precision: 29,
      scale: 9,
    });
    expect(kind({ api_name: 'a', data_type: 'double' })).toEqual({ kind: 'double' });
    expect(kind({ api_name: 'a', data_type: 'percent', decimal_place: null })).toEqual({ kind: 'double' });
    expect(
      kind({ api_name: 'a', data_type: 'formula', formula: { return_type: 'double' }, decimal_place: 2 }),
    ).toEqual({
      kind: 'decimal',
      precision: 18,
      scale: 2,
    });
    expect(kind({ api_name: 'a', data_type: 'formula', formula: { return_type: 'boolean' } })).toEqual({
      kind: 'boolean',
    });
    expect(
      kind({ api_name: 'a', data_type: 'rollup_summary', rollup_summary: { return_type: 'integer' } }),
    ).toEqual({
      kind: 'int64',
    });
    expect(kind({ api_name: 'a', data_type: 'boolean' })).toEqual({ kind: 'boolean' });
    expect(kind({ api_name: 'a', data_type: 'date' })).toEqual({ kind: 'date' });
    expect(kind({ api_name: 'a', data_type: 'datetime' })).toEqual({ kind: 'timestamp' });
    expect(kind({ api_name: 'a', data_type: 'multiselectpicklist' })).toEqual({ kind: 'list' });
    for (const t of [
      'text',
      'textarea',
      'email',
      'phone',
      'website',
      'picklist',
      'profileimage',
      'something_new',
    ]) {
      expect(kind({ api_name: 'a', data_type: t })).toEqual({ kind: 'string' });
    }
    expect(columnTypeOf({ api_name: 'a', data_type: 'subform', json_type: 'jsonarray' }).reason).toMatch(
      /undocumented/,
    );
  });

  it('plans the header: id, dot notation, unlisted columns, no metadata', () => {
    const fields = parseFieldsResponse({
      fields: [
        { api_name: 'Owner', data_type: 'ownerlookup', json_type: 'jsonobject', extra: 1 },
        { api_name: 'Amount', data_type: 'currency', decimal_place: 2 },
      ],
    });
    const plan = planColumns(['id', 'Owner', 'Owner.last_name', 'Amount', 'Mystery'], fields);
    expect(plan.map((c) => [c.name, c.type.kind])).toEqual([
      ['id', 'int64'],
      ['Owner', 'int64'],
      ['Owner.last_name', 'string'],
      ['Amount', 'decimal'],
      ['Mystery', 'string'],
    ]);
    expect(plan[4]?.reason).toBe(REASON_NOT_IN_METADATA);
    const none = planColumns(['id', 'Owner', 'Modified_Time', 'Created_Time', 'modified_time'], null);
    expect(none.map((c) => [c.name, c.type.kind, c.reason])).toEqual([
      ['id', 'int64', REASON_SYSTEM_FIELD],
      ['Owner', 'string', REASON_NO_METADATA],
      ['Modified_Time', 'timestamp', REASON_SYSTEM_FIELD],
      ['Created_Time', 'timestamp', REASON_SYSTEM_FIELD],
      ['modified_time', 'string', REASON_NO_METADATA],
    ]);
    expect(() => parseFieldsResponse({ data: [] })).toThrow();
  });
});
