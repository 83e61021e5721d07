/** Formula refresh schedules: the entry's validation and the formula fields of a module's metadata. */
import { describe, expect, it } from 'vitest';
import { validateSchedules } from '../../lib/schedules/definitions.js';
import { formulaFieldsOf } from '../../lib/schedules/formulas.js';

const ok = {
  name: 'deals-formulas',
  module: 'Deals',
  mode: 'formula_refresh',
  schedule: 'cron(55 23 * * ? *)',
};

describe('formula_refresh schedules', () => {
  it('accept a module and a schedule', () => {
    expect(validateSchedules([ok])).toEqual({ schedules: [{ ...ok, timezone: 'UTC' }], problems: [] });
    expect(
      validateSchedules([{ ...ok, schedule: 'rate(6 hours)', timezone: 'Europe/Berlin' }]).problems,
    ).toEqual([]);
  });

  it('refuse fields, criteria and cvid, naming them', () => {
    const r = validateSchedules([
      { ...ok, fields: ['Amount'] },
      { ...ok, name: 'b', criteria: { api_name: 'Stage', comparator: 'equal', value: 'Won' }, cvid: '123' },
    ]);
    expect(r.schedules).toEqual([]);
    expect(r.problems).toEqual([
      'schedule "deals-formulas" (entry 0): mode "formula_refresh" reads id, Modified_Time and every formula field of the module, of every record: remove fields',
      'schedule "b" (entry 1): mode "formula_refresh" reads id, Modified_Time and every formula field of the module, of every record: remove criteria, cvid',
    ]);
  });

  it('name the modes in a bad mode', () => {
    expect(validateSchedules([{ ...ok, mode: 'formula' }]).problems).toEqual([
      'schedule "deals-formulas" (entry 0): mode must be "full" or "incremental" (or "formula_refresh": the formula fields alone)',
    ]);
    // A bad module is still named with the mode.
    expect(validateSchedules([{ ...ok, module: 'De als' }]).problems[0]).toMatch(/module must be/);
  });

  it('take the fields whose data_type is formula', () => {
    expect(
      formulaFieldsOf([
        { api_name: 'id', data_type: 'bigint' },
        { api_name: 'Margin__c', data_type: 'formula', formula: { return_type: 'double' } },
        { api_name: 'Amount', data_type: 'currency' },
        { api_name: 'Days_Open__c', data_type: 'formula', formula: { return_type: 'integer' } },
        { api_name: 'Total__c', data_type: 'rollup_summary' },
      ]),
    ).toEqual(['Margin__c', 'Days_Open__c']);
    expect(formulaFieldsOf([{ api_name: 'Amount', data_type: 'currency' }])).toEqual([]);
  });
});
