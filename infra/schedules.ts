import { Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { ExporterConfig } from './config.js';
import type { ExporterFunction } from './function.js';

export interface SchedulesProps {
  readonly config: ExporterConfig;
  readonly pollFunction: ExporterFunction;
  /** The runner of schedule entries (exists when `schedules` has entries). */
  readonly scheduleFunction: ExporterFunction | undefined;
  /** Where an invocation EventBridge could not make goes. */
  readonly deadLetterQueue: sqs.IQueue;
}

/**
 * What runs on a clock: the poller's EventBridge rule, and one EventBridge Scheduler schedule per entry of
 * `schedules` with the role they invoke the runner through. In the stack's own scope (ids unchanged).
 */
export class Schedules {
  /** One EventBridge Scheduler schedule per entry of `schedules`, by name. */
  readonly schedules: Record<string, scheduler.CfnSchedule> = {};

  constructor(scope: Construct, { config, pollFunction, scheduleFunction, deadLetterQueue }: SchedulesProps) {
    // One poller per tick is enough: every state change is a conditional write, so overlapping runs are safe.
    new events.Rule(scope, 'PollSchedule', {
      description: 'Runs the Zoho CRM bulk export poller',
      schedule: events.Schedule.rate(Duration.minutes(config.pollSchedule)),
      targets: [
        new targets.LambdaFunction(pollFunction, {
          retryAttempts: 2,
          maxEventAge: Duration.minutes(2),
          deadLetterQueue,
        }),
      ],
    });
    if (!scheduleFunction) return;

    // Schedules (context `schedules`, validated by lib/schedules/definitions.ts): one schedule each, in its
    // time zone, invoking the run-schedule function with its name. The role may invoke that function only
    // (and put a failed invocation into the dead-letter queue).
    const role = new iam.Role(scope, 'SchedulerRole', {
      description: 'EventBridge Scheduler: invokes the Zoho CRM bulk export schedule runner',
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(scope).account } },
      }),
    });
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [scheduleFunction.functionArn],
      }),
    );
    deadLetterQueue.grantSendMessages(role);
    config.schedules.forEach((def, i) => {
      this.schedules[def.name] = new scheduler.CfnSchedule(
        scope,
        `Schedule${i}${def.name.replace(/[^A-Za-z0-9]/g, '')}`,
        {
          description: `Zoho CRM bulk export: schedule ${def.name} (${def.mode} export of ${def.module ?? (def.modules === 'all' ? 'all modules' : `${def.modules.length} modules`)})`,
          scheduleExpression: def.schedule,
          scheduleExpressionTimezone: def.timezone,
          flexibleTimeWindow: { mode: 'OFF' },
          state: 'ENABLED',
          target: {
            arn: scheduleFunction.functionArn,
            roleArn: role.roleArn,
            input: JSON.stringify({ schedule: def.name }),
            // A run that failed for a transient reason is tried again within the hour.
            retryPolicy: { maximumRetryAttempts: 3, maximumEventAgeInSeconds: 3600 },
            deadLetterConfig: { arn: deadLetterQueue.queueArn },
          },
        },
      );
    });
  }
}
