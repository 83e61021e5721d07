/**
 * Zoho's deleted-records API: `GET /crm/{version}/{module}/deleted?type=all&page=N&per_page=200`
 * with `If-Modified-Since` (records deleted after it). 204 means none (or no more).
 */
import { z } from 'zod';
import { digitsId } from './schemas.js';

const user = z.looseObject({ id: z.string().nullable().optional(), name: z.string().nullable().optional() });

export const deletedRecord = z.looseObject({
  id: digitsId,
  type: z.string().max(50),
  deleted_time: z.string().max(50),
  deleted_by: user.nullable().optional(),
  display_name: z.string().nullable().optional(),
});

export const deletedRecordsResponse = z.looseObject({
  data: z.array(deletedRecord),
  info: z
    .looseObject({
      more_records: z.boolean().optional(),
      page: z.number().optional(),
      per_page: z.number().optional(),
      count: z.number().optional(),
    })
    .optional(),
});

/** One deleted record, as the deletions file holds it. */
export interface DeletedRecord {
  id: string;
  type: string;
  deleted_time: string;
  deleted_by_name: string | null;
  deleted_by_id: string | null;
}

export interface DeletedPage {
  records: DeletedRecord[];
  more: boolean;
}

export const toDeletedRecord = (r: z.output<typeof deletedRecord>): DeletedRecord => ({
  id: r.id,
  type: r.type,
  deleted_time: r.deleted_time,
  deleted_by_name: r.deleted_by?.name ?? null,
  deleted_by_id: r.deleted_by?.id ?? null,
});
