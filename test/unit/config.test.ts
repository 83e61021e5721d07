import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  envFor,
  FUNCTION_NAMES,
  FUNCTIONS,
  loadFunctionConfig,
  variablesOf,
} from '../../lib/config.js';
import { SETTING_NAMES, SETTINGS } from '../../lib/settings.js';

const resourcesFor = (fn: (typeof FUNCTION_NAMES)[number]) =>
  Object.fromEntries(FUNCTIONS[fn].resources.map((r) => [r, `value-of-${r}`]));

describe('function environments (lib/config.ts)', () => {
  it('a required resource that is missing fails the load, naming it', () => {
    expect(() => loadFunctionConfig('download-result', { JOBS_TABLE: 't' })).toThrow(ConfigError);
    expect(() => loadFunctionConfig('download-result', { JOBS_TABLE: 't' })).toThrow(/BUCKET is required/);
    expect(() =>
      loadFunctionConfig('poll-jobs', { ...resourcesFor('poll-jobs'), DOWNLOAD_QUEUE_URL: '' }),
    ).toThrow(/DOWNLOAD_QUEUE_URL is empty/);
  });

  it('every problem is listed at once, with defaults for settings left unset', () => {
    const e = (() => {
      try {
        loadFunctionConfig('poll-jobs', {
          ...resourcesFor('poll-jobs'),
          POLL_CONCURRENCY: '0',
          ZOHO_DATA_CENTER: 'XX',
        });
      } catch (err) {
        return err as Error;
      }
      throw new Error('no error');
    })();
    expect(e.message).toMatch(/POLL_CONCURRENCY/);
    expect(e.message).toMatch(/ZOHO_DATA_CENTER/);
    const ok = loadFunctionConfig('poll-jobs', resourcesFor('poll-jobs'));
    expect(ok).toMatchObject({
      POLL_CONCURRENCY: 5,
      MAX_DOWNLOAD_ATTEMPTS: 5,
      ZOHO_DATA_CENTER: 'US',
      ZOHO_API_VERSION: 'v8',
    });
  });

  it('envFor sets exactly the variables a function reads, and what it sets loads back', () => {
    const settings = Object.fromEntries(
      SETTING_NAMES.map((n) => [n, String(SETTINGS[n].schema.parse(undefined) ?? '')]),
    );
    for (const fn of FUNCTION_NAMES) {
      const env = envFor(fn, resourcesFor(fn) as never, {
        ...settings,
        ZOHO_ACCOUNTS_URL: undefined,
        ZOHO_API_DOMAIN: undefined,
      });
      for (const k of Object.keys(env)) expect(variablesOf(fn)).toContain(k);
      for (const r of FUNCTIONS[fn].resources) expect(env[r]).toBe(`value-of-${r}`);
      expect(() => loadFunctionConfig(fn, env)).not.toThrow();
    }
  });

  it('each setting has one context key, and no two settings share one', () => {
    const keys = SETTING_NAMES.map((n) => SETTINGS[n].context.key);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
