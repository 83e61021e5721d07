import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assignColumnNames,
  baseColumnName,
  MAX_COLUMN_NAME,
  RESERVED_COLUMN_NAMES,
} from '../../lib/analytics/names.js';

const valid = (n: string): boolean =>
  /^[a-z_][a-z0-9_]*$/.test(n) && n.length <= MAX_COLUMN_NAME && !RESERVED_COLUMN_NAMES.has(n);
const apiNames = fc.uniqueArray(
  fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.constantFrom(
      'Email',
      'EMAIL',
      'email',
      'Owner.last_name',
      'owner__last_name',
      '_export_id',
      'export_date',
      '1st',
    ),
  ),
  { maxLength: 30 },
);

describe('column names from Zoho API names', () => {
  it('examples: lower case, lookups, leading digits, collisions in order of first appearance', () => {
    expect(baseColumnName('Owner.last_name')).toBe('owner__last_name');
    expect(baseColumnName('1st Call')).toBe('c_1st_call');
    const m = assignColumnNames(['Email', 'EMAIL', 'export_date', '_job_id']);
    expect([...m.values()]).toEqual(['email', 'email_2', 'export_date_2', '_job_id_2']);
  });

  it('injective, valid, and stable across exports (a later export reuses the mapping)', () => {
    fc.assert(
      fc.property(apiNames, apiNames, (a, b) => {
        const first = assignColumnNames(a);
        expect(new Set(first.values()).size).toBe(a.length);
        for (const n of first.values()) expect(valid(n), n).toBe(true);
        const later = assignColumnNames([...b, ...a], first);
        for (const [api, col] of first) expect(later.get(api)).toBe(col);
        expect(new Set(later.values()).size).toBe(later.size);
        for (const n of later.values()) expect(valid(n), n).toBe(true);
      }),
    );
  });
});
