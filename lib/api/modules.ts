/** `GET /modules`: every module of the Zoho org, its kind, and whether Bulk Read can export it (and why not). */
import { z } from 'zod';
import type { ExportDeps } from '../exports/deps.js';
import { ZohoError } from '../zoho/errors.js';
import { ApiError, type Event, json, parseQuery, type Result } from './http.js';

/** The scope `GET /crm/{version}/settings/modules` needs (docs/zoho-setup.md). */
export const MODULES_SCOPE = 'ZohoCRM.settings.modules.READ';

const listQuery = z.strictObject({
  refresh: z.enum(['true', 'false'], { message: 'refresh must be true or false' }).optional(),
});

/**
 * Zoho's refusal or trouble as the API's answer, as `POST /exports` maps it (lib/api/exports.ts): a
 * missing scope (Zoho's 401 OAUTH_SCOPE_MISMATCH) or permission is 403 with Zoho's code, naming the
 * scope; Zoho unreachable or throttled, or no token, 503 with Retry-After.
 */
function zohoAnswer(e: ZohoError): ApiError {
  const retryAfter = { 'retry-after': String(Math.max(1, Math.ceil((e.retryAfterMs ?? 30_000) / 1000))) };
  if (e.stage === 'oauth') {
    return new ApiError(
      503,
      e.code,
      `the exporter cannot get a Zoho access token right now (${e.message}); if this lasts, check the Zoho credentials and data centre`,
      retryAfter,
    );
  }
  if (e.kind !== 'terminal') {
    return new ApiError(
      503,
      'ZOHO_UNAVAILABLE',
      `Zoho did not list the modules (${e.code}): try again later`,
      retryAfter,
    );
  }
  if (e.code === 'OAUTH_SCOPE_MISMATCH') {
    return new ApiError(
      403,
      e.code,
      `Zoho refused the module list: ${e.message}; the refresh token lacks the scope ${MODULES_SCOPE} (module discovery needs it: docs/zoho-setup.md)`,
    );
  }
  const status = e.httpStatus === 401 || e.httpStatus === 403 ? 403 : 400;
  return new ApiError(status, e.code, `Zoho refused the module list: ${e.message}`);
}

export async function listModules(deps: ExportDeps, event: Event, signal?: AbortSignal): Promise<Result> {
  const q = parseQuery(event, listQuery, 'refresh');
  if (!deps.modules) throw new Error('module discovery is not configured (lib/wiring.ts exportDeps)');
  try {
    const list = await deps.modules.list({ refresh: q.refresh === 'true', ...(signal ? { signal } : {}) });
    return json(200, list);
  } catch (e) {
    if (e instanceof ZohoError) throw zohoAnswer(e);
    throw e;
  }
}
