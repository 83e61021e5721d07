/**
 * Incremental exports: a schedule's later runs export only the records modified after its watermark
 * (the start of its last COMPLETED run) minus an overlap, and the records deleted since then.
 *
 * The overlap covers what a single instant cannot: a record saved at Zoho while the previous run's
 * job was being created, and clocks that disagree by a little. Records modified in the overlap are
 * exported twice; consumers keep the latest version of each id (the query in docs/schedules.md), so
 * a duplicate is harmless where a gap would lose data.
 */
import type { Criteria } from '../exports/model.js';

/** Subtracted from the watermark before it is used (10 minutes). */
export const INCREMENTAL_OVERLAP_MS = 10 * 60_000;

/** ISO 8601 with an offset, seconds precision, as Zoho's criteria and datetimes take it. */
export const zohoDateTime = (ms: number): string =>
  new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, '+00:00');

/** Where an incremental run starts: the watermark minus the overlap. */
export const sinceOf = (watermark: string): number => Date.parse(watermark) - INCREMENTAL_OVERLAP_MS;

/**
 * The schedule's own criteria AND `Modified_Time > since`. An `and` group takes the condition as one
 * more member (no deeper nesting); anything else is wrapped in a new `and` group.
 */
export function incrementalCriteria(own: Criteria | undefined, sinceMs: number): Criteria {
  const leaf: Criteria = {
    api_name: 'Modified_Time',
    comparator: 'greater_than',
    value: zohoDateTime(sinceMs),
  };
  if (!own) return leaf;
  if ('group' in own && own.group_operator.toLowerCase() === 'and')
    return { group_operator: 'and', group: [...own.group, leaf] };
  return { group_operator: 'and', group: [own, leaf] };
}
