import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { createCallbackHandler } from '../lib/callbacks/http.js';
import { pageHooks } from '../lib/exports/hooks.js';
import { lambdaRuntime, sqsDispatcher } from '../lib/runtime.js';

const rt = lambdaRuntime('zoho-callback');
if (!rt.callbacks) throw new Error('zoho-callback needs CALLBACK_BASE_URL and CALLBACK_SECRET_ARN');
const callback = createCallbackHandler({
  exports: rt.exportDeps,
  poll: {
    ...rt,
    dispatch: sqsDispatcher(rt.clients.sqs, rt.config.DOWNLOAD_QUEUE_URL),
    pages: pageHooks(rt.exportDeps),
  },
  verify: rt.callbacks.verify,
});

/** API Gateway HTTP API (payload 2.0), `POST /callbacks/zoho/{token}` only (no IAM auth: Zoho cannot sign). */
export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
  .use(injectLambdaContext(rt.logger))
  .use(logMetrics(rt.metrics.powertools))
  .handler((event: APIGatewayProxyEventV2) => callback(event));
