import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { createApiHandler } from '../lib/api/handler.js';
import { lambdaRuntime } from '../lib/runtime.js';

const rt = lambdaRuntime('api');
const api = createApiHandler(rt.exportDeps);

/** API Gateway HTTP API (payload 2.0): every route of lib/api/routes.ts. */
export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
  .use(injectLambdaContext(rt.logger))
  .use(logMetrics(rt.metrics.powertools))
  .handler((event: APIGatewayProxyEventV2, context: Context) => api(event, context));
