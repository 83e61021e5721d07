/**
 * The Zoho job slots' contract on DynamoDB Local (the unit tier runs the same suite on the in-memory
 * table): compare-and-set on a real table, concurrent acquires never above the cap.
 */
import { freshAws } from '../support/aws.js';
import { jobSlotsSuite } from '../support/job-slots-suite.js';

// Each test its own fresh tables: the slots are one item per state table.
jobSlotsSuite('DynamoDB Local', async () => (await freshAws()).tables.state);
