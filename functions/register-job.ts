import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { loadConfig } from '../lib/config.js';
import { createLogger } from '../lib/observability.js';
import { handleApi } from '../lib/pipeline/api.js';
import { awsClients, jobStore } from '../lib/runtime.js';

const config = loadConfig();
const clients = awsClients();
const deps = { jobs: jobStore(config, clients.ddb), logger: createLogger('register-job') };

/** API Gateway HTTP API (payload 2.0): POST /jobs, GET /jobs, GET /jobs/{job_id}. */
export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>().handler((event) =>
  handleApi(deps, event),
);
