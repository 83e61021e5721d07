import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { createApiHandler } from '../lib/api/handler.js';
import { DynamoTable } from '../lib/ddb/dynamo-table.js';
import { JobStore } from '../lib/jobs/store.js';
import { lambdaBase } from '../lib/runtime.js';
import { TABLES } from '../lib/tables.js';

const { config, clients, logger } = lambdaBase('api');
const api = createApiHandler({
  jobs: new JobStore(new DynamoTable(clients.ddb, config.JOBS_TABLE, TABLES.jobs)),
  logger,
});

/** API Gateway HTTP API (payload 2.0): every route of lib/api/routes.ts. */
export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
  .use(injectLambdaContext(logger))
  .handler((event: APIGatewayProxyEventV2, context: Context) => api(event, context));
