import { describe, expect, it, vi } from 'vitest';
import { subformOf } from '../../lib/wiring.js';

const listing = (modules: { api_name: string; kind: string }[]) => ({ list: async () => ({ modules }) });

describe('subformOf', () => {
  it('counts the known line items and the subforms discovery lists', async () => {
    const isSubform = subformOf(
      listing([
        { api_name: 'Alternate_Address', kind: 'subform' },
        { api_name: 'Contacts', kind: 'standard' },
      ]),
    );
    expect(await isSubform('Quoted_Items')).toBe(true);
    expect(await isSubform('Alternate_Address')).toBe(true);
    expect(await isSubform('Contacts')).toBe(false);
  });

  it('goes on with the known line items, and warns, when discovery fails', async () => {
    const warn = vi.fn();
    const failing = {
      list: async () => {
        throw Object.assign(new Error('no scope'), { code: 'OAUTH_SCOPE_MISMATCH' });
      },
    };
    const isSubform = subformOf(failing, { warn });
    expect(await isSubform('Invoiced_Items')).toBe(true);
    expect(warn).not.toHaveBeenCalled();
    expect(await isSubform('Alternate_Address')).toBe(false);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(JSON.stringify(warn.mock.calls[0])).toContain('Alternate_Address');
  });
});
