/** A module API name given on the command line (`export`, `exports list`, `snapshot --modules`). */
import { UsageError } from './errors.js';
import { MODULE_PATTERN } from './types.js';

export function checkModule(m: string): string {
  if (!MODULE_PATTERN.test(m)) {
    throw new UsageError(
      `${JSON.stringify(m)} is not a Zoho module API name (letters, digits, _), e.g. Contacts`,
    );
  }
  return m;
}
