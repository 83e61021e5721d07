import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { createApiHandler } from '../lib/api/handler.js';
import { loadFunctionConfig } from '../lib/config.js';
import { lambdaRuntime } from '../lib/runtime.js';
import { apiDeps } from '../lib/wiring.js';

const rt = lambdaRuntime('api', loadFunctionConfig('api'));
const api = createApiHandler(apiDeps(rt.core, rt.exportParts));

/**
 * The route's own deadline, this long before the Lambda's: a Zoho create still in flight is aborted
 * and the request answers while there is time to (lib/exports/start.ts: 202 with the export awaiting
 * the job's callback, or 504 ZOHO_CREATE_UNCERTAIN; its idempotency key then answers the same).
 */
const ANSWER_MS = 2_000;

/** API Gateway HTTP API (payload 2.0): every route of lib/api/routes.ts. */
export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
  .use(injectLambdaContext(rt.logger))
  .use(logMetrics(rt.metrics.powertools))
  .handler((event: APIGatewayProxyEventV2, context: Context, { signal }: { signal: AbortSignal }) =>
    api(
      event,
      context,
      AbortSignal.any([
        signal,
        AbortSignal.timeout(Math.max(0, context.getRemainingTimeInMillis() - ANSWER_MS)),
      ]),
    ),
  );
