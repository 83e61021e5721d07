import { z } from 'zod';
import type { ZohoField } from './fields.js';

// Kept apart from fields.ts so that planning columns does not bundle zod (~450 KB minified).
const fieldSchema = z.looseObject({
  api_name: z.string().min(1),
  data_type: z.string().optional(),
  json_type: z
    .string()
    .nullish()
    .transform((v) => v ?? undefined),
  decimal_place: z.number().int().nullish(),
  length: z.number().int().nullish(),
  formula: z.looseObject({ return_type: z.string().optional() }).nullish(),
  rollup_summary: z.looseObject({ return_type: z.string().optional() }).nullish(),
  multiselectlookup: z
    .looseObject({
      linking_details: z.looseObject({ module: z.looseObject({ api_name: z.string() }).nullish() }).nullish(),
    })
    .nullish(),
});

const fieldsResponseSchema = z.looseObject({ fields: z.array(fieldSchema) });

/** Parses the Fields API response body; throws (zod) when it has no `fields` array of named fields. */
export function parseFieldsResponse(body: unknown): ZohoField[] {
  return fieldsResponseSchema.parse(body).fields;
}
