import { memoryTables } from '../support/memory.js';
import { tableContract } from '../support/table-contract.js';

tableContract('MemoryTable', async () => memoryTables());
