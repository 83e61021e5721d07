import { z } from 'zod';
import { JOB_ID_PATTERN } from '../jobs/model.js';

/** The conversion message (SQS body): convert this EXPORTED page to Parquet. */
export const convertMessage = z.strictObject({ job_id: z.string().regex(JOB_ID_PATTERN) });
export type ConvertMessage = z.infer<typeof convertMessage>;
