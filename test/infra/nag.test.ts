import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildStack, type Synthesized } from './synth.js';

/**
 * cdk-nag 3 is a CDK policy-validation plugin (`Validations.of(app).addPlugins(...)`), no longer an Aspect that
 * writes annotations, and suppressions are `Validations.of(construct).acknowledge({ id, reason })`.
 */

const findings = (built: Synthesized) =>
  new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(built.stack).violations.map((v) => ({
    rule: v.ruleName,
    severity: v.severity,
    resources: v.violatingResources.map((r) => r.constructPath),
    description: v.description,
  }));

/** Every acknowledgement recorded in the stack: rule id (without the 'Annotation::' prefix) -> reasons. */
function acknowledgements(root: IConstruct): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const construct of root.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        const rule = id.replace(/^annotation::/i, '');
        found.set(rule, [...(found.get(rule) ?? []), reason]);
      }
    }
  }
  return found;
}

const configurations = {
  'created bucket and secret, alarm e-mail': { alarmEmail: 'ops@example.com' },
  'existing bucket and secret': {
    bucketName: 'my-exports',
    secretName: 'zoho/creds',
    s3Prefix: 'exports/zoho',
    // With schedules: the runner, its Scheduler role, the deletions grants.
    schedules: [
      { name: 'contacts-nightly', module: 'Contacts', mode: 'incremental', schedule: 'cron(0 2 * * ? *)' },
    ],
  },
};

describe.each(Object.entries(configurations))('cdk-nag AwsSolutions (%s)', (_name, context) => {
  let built: Synthesized;
  beforeAll(() => {
    built = buildStack(context);
    Validations.of(built.app).addPlugins(new AwsSolutionsChecks(built.app, { verbose: true }));
  }, 120_000);
  afterAll(() => built?.cleanup());

  it('reports no error and no warning', () => {
    expect(findings(built)).toEqual([]);
  });

  it('synthesizes with the AwsSolutions plugin registered (synth fails on any violation)', () => {
    expect(() => built.app.synth()).not.toThrow();
  }, 120_000);

  it('every acknowledgement names one rule and gives a specific reason', () => {
    const acks = acknowledgements(built.stack);
    expect(acks.size).toBeGreaterThan(0);
    for (const [rule, reasons] of acks) {
      expect(rule).toMatch(/^AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      // IAM5 must be acknowledged per finding (`AwsSolutions-IAM5[...]`), never as a whole rule.
      if (rule.startsWith('AwsSolutions-IAM5')) expect(rule).toContain('[');
      for (const reason of reasons) expect(reason.length, `${rule}: ${reason}`).toBeGreaterThan(60);
    }
  });
});

describe('cdk-nag acknowledgements are all needed', () => {
  let built: Synthesized;
  beforeAll(() => {
    // Build the same stack with acknowledge() turned into a no-op: its raw findings must be exactly the
    // acknowledged rules, so a stale suppression (or a new unreviewed finding) fails here.
    const spy = vi.spyOn(Validations.prototype, 'acknowledge').mockImplementation(() => {});
    try {
      built = buildStack({ alarmEmail: 'ops@example.com' });
    } finally {
      spy.mockRestore();
    }
  }, 120_000);
  afterAll(() => built?.cleanup());

  it('raw findings == acknowledged rule ids', () => {
    const withAcks = buildStack({ alarmEmail: 'ops@example.com' });
    try {
      const raw = [...new Set(findings(built).map((f) => f.rule))].sort();
      expect(raw.length).toBeGreaterThan(0);
      expect([...acknowledgements(withAcks.stack).keys()].sort()).toEqual(raw);
    } finally {
      withAcks.cleanup();
    }
  }, 120_000);
});
