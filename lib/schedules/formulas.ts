/**
 * Formula refresh schedules (`"mode": "formula_refresh"`). Zoho recomputes a formula field without
 * touching `Modified_Time` ("formula fields … compute and render the latest result only when the
 * record is edited manually or updated via automation", and a `Now()` formula on a visit), so an
 * incremental run never sees the new value. A refresh run reads the module's field metadata, takes
 * its formula fields (`data_type` "formula") and exports `id`, `Modified_Time` and those fields of every
 * record (Estuary re-exports the same on a cron). The export lands and converts like any other, in the
 * module's table (a subset of its columns, typed from the same metadata), with mode `formula_refresh`
 * in its manifest: the views apply it to the version it read (lib/tables/formulas.ts).
 */
import type { ZohoField } from '../analytics/fields.js';
import type { ExportDeps } from '../exports/deps.js';
import { type ExportQuery, exportQuery } from '../exports/model.js';

/** A formula refresh takes no query of its own: the problem sentence, if the entry has one. */
export function formulaRefreshProblems(e: {
  fields?: unknown;
  criteria?: unknown;
  cvid?: unknown;
}): string[] {
  const extra = (['fields', 'criteria', 'cvid'] as const).filter((k) => e[k] !== undefined);
  return extra.length
    ? [
        `mode "formula_refresh" reads id, Modified_Time and every formula field of the module, of every record: remove ${extra.join(', ')}`,
      ]
    : [];
}

/** The API names of the formula fields in a module's field metadata. */
export const formulaFieldsOf = (fields: readonly ZohoField[]): string[] =>
  fields.filter((f) => f.data_type === 'formula').map((f) => f.api_name);

/**
 * The query of a formula refresh of `module`: `id`, `Modified_Time` and its formula fields, or undefined
 * when it has none. Needs the scope ZohoCRM.settings.fields.READ (Zoho's refusal is thrown).
 */
export async function formulaRefreshQuery(
  deps: Pick<ExportDeps, 'zoho' | 'config'>,
  module: string,
): Promise<ExportQuery | undefined> {
  const version = deps.config.ZOHO_API_VERSION ?? 'v8';
  const formulas = formulaFieldsOf(await deps.zoho.getFields(module, { version }));
  if (formulas.length === 0) return undefined;
  const fields = ['id', 'Modified_Time', ...formulas.filter((f) => f !== 'id' && f !== 'Modified_Time')];
  const q = exportQuery.safeParse({ module, fields });
  if (!q.success)
    throw new Error(`formula refresh of ${module}: ${q.error.issues[0]?.message ?? 'invalid query'}`);
  return q.data;
}
