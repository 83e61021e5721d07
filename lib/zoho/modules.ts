/**
 * `GET /crm/{version}/settings/modules` (scope ZohoCRM.settings.modules.READ): every module of the org
 * with the attributes module discovery classifies by (lib/modules/discovery.ts). Only those attributes
 * are kept; Zoho's many others (profiles, custom views, ...) are dropped here.
 */
import { z } from 'zod';

/** The statuses Zoho documents for the `status` query parameter: asked for all of them. */
export const MODULE_STATUSES = ['visible', 'user_hidden', 'system_hidden', 'scheduled_for_deletion'] as const;

const zohoModule = z.looseObject({
  api_name: z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,99}$/),
  plural_label: z.string().nullish(),
  module_name: z.string().nullish(),
  // Unknown values are kept as they are (a newer Zoho may add kinds): discovery classifies them `other`.
  generated_type: z.string().max(64).nullish(),
  api_supported: z.boolean().nullish(),
  status: z.string().max(64).nullish(),
  // `{}` or null when the module has no parent (Zoho's sample answers `{}`).
  parent_module: z.looseObject({ api_name: z.string().max(100).optional() }).nullish(),
});

export const modulesResponse = z.looseObject({ modules: z.array(zohoModule).max(5000) });

/** One module as discovery needs it (what the cache stores, too). */
export interface ZohoModule {
  api_name: string;
  label: string;
  generated_type: string | null;
  api_supported: boolean;
  status: string | null;
  parent: string | null;
}

export const zohoModuleRecord: z.ZodType<ZohoModule> = z.strictObject({
  api_name: z.string().min(1),
  label: z.string(),
  generated_type: z.string().nullable(),
  api_supported: z.boolean(),
  status: z.string().nullable(),
  parent: z.string().nullable(),
});

export function toZohoModule(m: z.infer<typeof zohoModule>): ZohoModule {
  return {
    api_name: m.api_name,
    label: m.plural_label ?? m.module_name ?? m.api_name,
    generated_type: m.generated_type ?? null,
    // Absent means Zoho did not say it is: not assumed accessible.
    api_supported: m.api_supported === true,
    status: m.status ?? null,
    parent: m.parent_module?.api_name ?? null,
  };
}
