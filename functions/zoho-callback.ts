import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { createCallbackHandler } from '../lib/callbacks/http.js';
import { loadFunctionConfig } from '../lib/config.js';
import { lambdaRuntime } from '../lib/runtime.js';
import { callbackDeps, exportDeps, pollDeps } from '../lib/wiring.js';

const rt = lambdaRuntime('zoho-callback', loadFunctionConfig('zoho-callback'));
if (!rt.callbacks) throw new Error('zoho-callback needs CALLBACK_BASE_URL and CALLBACK_SECRET_ARN');
const exports = exportDeps(rt.core, rt.exportParts);
const callback = createCallbackHandler(
  callbackDeps(
    exports,
    pollDeps(rt.core, { dispatch: rt.queue(rt.config.DOWNLOAD_QUEUE_URL), exports }),
    rt.callbacks,
  ),
);

/** API Gateway HTTP API (payload 2.0), `POST /callbacks/zoho/{token}` only (no IAM auth: Zoho cannot sign). */
export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
  // Never log the event: its path holds the callback token (a bearer secret).
  .use(injectLambdaContext(rt.logger, { logEvent: false }))
  .use(logMetrics(rt.metrics.powertools))
  .handler((event: APIGatewayProxyEventV2) => callback(event));
