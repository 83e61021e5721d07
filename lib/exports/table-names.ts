/**
 * The Glue table names, a module's and its deletions', in one module of their own: the catalog, the
 * views and the deletions all name tables, and importing the name from any of them made a circle.
 */

/** `zoho_<module>`: lower case, anything outside [a-z0-9_] an underscore. */
export const tableNameOf = (module: string): string =>
  `zoho_${module.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`;

/** The table of a module's deleted record ids (lib/schedules/deletions.ts). */
export const deletionsTableName = (module: string): string => `${tableNameOf(module)}_deletions`;
