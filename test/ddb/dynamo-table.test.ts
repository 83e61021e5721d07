import { freshAws } from '../support/aws.js';
import { tableContract } from '../support/table-contract.js';

tableContract('DynamoTable (DynamoDB Local)', async () => (await freshAws()).tables);
