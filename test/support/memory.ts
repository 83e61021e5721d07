import { randomUUID } from 'node:crypto';
import { MemoryTable } from '../../lib/ddb/memory-table.js';
import { TABLES } from '../../lib/tables.js';

/** Fresh in-memory tables with the product's definitions. */
export function memoryTables(): { jobs: MemoryTable; state: MemoryTable } {
  const id = randomUUID().slice(0, 8);
  return {
    jobs: new MemoryTable(`jobs-${id}`, TABLES.jobs),
    state: new MemoryTable(`state-${id}`, TABLES.state),
  };
}
