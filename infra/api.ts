import { RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { API_ROUTES } from '../lib/api/routes.js';
import { CALLBACK_ROUTE } from '../lib/callbacks/http.js';
import type { ExporterConfig } from './config.js';
import { acknowledge, type ExporterFunction } from './function.js';

const API_THROTTLE = { rateLimit: 10, burstLimit: 20 };
/**
 * The callback route's own throttle: Zoho sends one callback per finished job (and retries a few on a
 * non-2xx), so 5 a second with bursts of 20 is far above real use and bounds what a flood can cost.
 */
export const CALLBACK_THROTTLE = { rateLimit: 5, burstLimit: 20 };

/** Callbacks on: what the functions that create Zoho jobs put in their callback URLs. */
export interface Callbacks {
  /** The key that signs callback URLs (lib/callbacks/token.ts): generated, never leaves Secrets Manager. */
  readonly key: secretsmanager.Secret;
  readonly baseUrl: string;
}

/**
 * The HTTP API (SigV4 / IAM authorization), its stage with access logs and throttles, and, with callbacks
 * on, the key of the callback URLs. Built in two steps because the functions need the API's URL (their
 * callback URLs) and the routes need the functions: construct, build the functions, then `serve`.
 * In the stack's own scope (not a child construct) so the API, and so its URL, keeps its logical id.
 */
export class Api {
  readonly api: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;
  readonly callbacks: Callbacks | undefined;

  constructor(scope: Construct, config: ExporterConfig) {
    this.api = new apigwv2.HttpApi(scope, 'Api', {
      description: 'Zoho CRM bulk export jobs (SigV4 / IAM authorization; Zoho callbacks by signed URL)',
      createDefaultStage: false,
      defaultAuthorizer: new HttpIamAuthorizer(),
    });
    if (config.callbacks) {
      const key = new secretsmanager.Secret(scope, 'CallbackKey', {
        description: 'Zoho CRM bulk export: the key that signs the callback URLs given to Zoho (generated)',
        generateSecretString: { passwordLength: 64, excludePunctuation: true },
        removalPolicy: RemovalPolicy.DESTROY,
      });
      acknowledge(
        key,
        'AwsSolutions-SMG4',
        'Signs the callback URLs Zoho holds for running jobs (up to a day); rotating it invalidates them. It ' +
          'never leaves Secrets Manager; to rotate, put a new random value when no export is running.',
      );
      this.callbacks = { key, baseUrl: config.callbackBaseUrl ?? this.api.apiEndpoint };
    }

    const accessLogGroup = new logs.LogGroup(scope, 'ApiAccessLogs', {
      retention: config.logRetentionDays as logs.RetentionDays,
    });
    this.stage = this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: API_THROTTLE,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogGroup),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            requestTime: '$context.requestTime',
            ip: '$context.identity.sourceIp',
            caller: '$context.identity.userArn',
            // The route, never the path: a callback's path is its token (lib/callbacks/token.ts).
            routeKey: '$context.routeKey',
            status: '$context.status',
            protocol: '$context.protocol',
            responseLength: '$context.responseLength',
            latency: '$context.responseLatency',
            integrationLatency: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });
  }

  /** Exactly the routes the API function serves (lib/api/routes.ts), and Zoho's callback route. */
  serve(apiFunction: ExporterFunction, callbackFunction: ExporterFunction | undefined): void {
    const integration = new HttpLambdaIntegration('ApiIntegration', apiFunction, {
      payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
    });
    const byPath = new Map<string, apigwv2.HttpMethod[]>();
    for (const r of API_ROUTES)
      byPath.set(r.path, [...(byPath.get(r.path) ?? []), r.method as apigwv2.HttpMethod]);
    for (const [path, methods] of byPath) this.api.addRoutes({ path, methods, integration });
    if (!callbackFunction) return;
    // The one route without IAM authorization (Zoho cannot sign): the token in the path is an HMAC
    // the function checks, and the route has its own, lower throttle.
    const [route] = this.api.addRoutes({
      path: CALLBACK_ROUTE.path,
      methods: [apigwv2.HttpMethod.POST],
      integration: new HttpLambdaIntegration('CallbackIntegration', callbackFunction, {
        payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
      }),
      authorizer: new apigwv2.HttpNoneAuthorizer(),
    });
    acknowledge(
      route!,
      'AwsSolutions-APIG4',
      "Zoho's job callbacks cannot be signed: the route carries an HMAC token bound to one export page and " +
        'job (checked before anything is read or changed), and has its own throttle.',
    );
    const cfnStage = this.stage.node.defaultChild as apigwv2.CfnStage;
    cfnStage.routeSettings = {
      [`${CALLBACK_ROUTE.method} ${CALLBACK_ROUTE.path}`]: {
        ThrottlingRateLimit: CALLBACK_THROTTLE.rateLimit,
        ThrottlingBurstLimit: CALLBACK_THROTTLE.burstLimit,
      },
    };
  }
}
