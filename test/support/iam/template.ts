/**
 * The synthesized template's side of the IAM check: each function's statements with their intrinsics
 * (`Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`, pseudo parameters) resolved to concrete ARNs built from
 * the logical ids, and the recorded calls' resources turned into ARNs built the same way. Then every
 * recorded call is evaluated against its function's statements (test/support/iam/evaluate.ts).
 *
 * Naming, one scheme on both sides: a resource's physical name is its logical id (a bucket's lowercased),
 * in account 123456789012, region us-east-1, partition aws.
 */
import { z } from 'zod';
import { FUNCTION_NAMES, type FunctionName } from '../../../lib/config.js';
import type { TableRole } from '../../../lib/tables.js';
import { evaluate, type Statement, statementMatches, statementSchema } from './evaluate.js';
import type { QueueRole, RecordedCall, RecordedResource, SecretRole } from './recorder.js';

export const REGION = 'us-east-1';
export const ACCOUNT = '123456789012';
const PSEUDO: Record<string, string> = {
  'AWS::Region': REGION,
  'AWS::AccountId': ACCOUNT,
  'AWS::Partition': 'aws',
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 'TestStack',
};
/** The tag infra/function.ts puts on every function (its FunctionName). */
const FUNCTION_TAG = 'zoho-export:function';

const resourceSchema = z.object({
  Type: z.string(),
  Properties: z.record(z.string(), z.unknown()).optional(),
});
const templateSchema = z.object({ Resources: z.record(z.string(), resourceSchema) });
export type TemplateJson = z.input<typeof templateSchema>;
type Resources = z.output<typeof templateSchema>['Resources'];

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** A resource's physical name under this file's naming. */
function physicalName(resources: Resources, id: string): string {
  const r = resources[id];
  if (!r) throw new Error(`the template has no resource ${id}`);
  return r.Type === 'AWS::S3::Bucket' ? id.toLowerCase() : id;
}

function refOf(resources: Resources, id: string): string {
  const pseudo = PSEUDO[id];
  if (pseudo) return pseudo;
  const r = resources[id];
  if (!r) throw new Error(`Ref to unknown ${id}`);
  const name = physicalName(resources, id);
  switch (r.Type) {
    case 'AWS::SQS::Queue':
      return `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${name}`;
    case 'AWS::SecretsManager::Secret':
      return `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}`;
    default:
      return name;
  }
}

function getAtt(resources: Resources, id: string, attr: string): string {
  const r = resources[id];
  if (!r) throw new Error(`Fn::GetAtt of unknown ${id}`);
  const name = physicalName(resources, id);
  const arns: Record<string, string> = {
    'AWS::DynamoDB::Table': `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${name}`,
    'AWS::S3::Bucket': `arn:aws:s3:::${name}`,
    'AWS::SQS::Queue': `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`,
    'AWS::Logs::LogGroup': `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${name}:*`,
    'AWS::Lambda::Function': `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`,
    'AWS::IAM::Role': `arn:aws:iam::${ACCOUNT}:role/${name}`,
    'AWS::SNS::Topic': `arn:aws:sns:${REGION}:${ACCOUNT}:${name}`,
  };
  if (attr === 'Arn' && arns[r.Type]) return arns[r.Type]!;
  if (attr === 'QueueName' && r.Type === 'AWS::SQS::Queue') return name;
  if (attr === 'QueueUrl' && r.Type === 'AWS::SQS::Queue') return refOf(resources, id);
  if (attr === 'ApiEndpoint') return `https://${name}.execute-api.${REGION}.amazonaws.com`;
  throw new Error(`Fn::GetAtt ${id}.${attr} (${r.Type}) is not resolved by this check`);
}

/** Resolves the intrinsics in `value` to strings; an intrinsic it does not know fails loudly. */
export function resolve(resources: Resources, value: unknown): unknown {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map((v) => resolve(resources, v));
  if (!isRecord(value)) throw new Error(`cannot resolve ${JSON.stringify(value)}`);
  const keys = Object.keys(value);
  const str = (v: unknown): string => {
    const r = resolve(resources, v);
    if (typeof r !== 'string') throw new Error(`expected a string from ${JSON.stringify(v)}`);
    return r;
  };
  if (keys.length === 1 && keys[0] === 'Ref') return refOf(resources, z.string().parse(value.Ref));
  if (keys.length === 1 && keys[0] === 'Fn::GetAtt') {
    const att = value['Fn::GetAtt'];
    const [id, attr] =
      typeof att === 'string' ? att.split('.') : z.tuple([z.string(), z.string()]).parse(att);
    return getAtt(resources, z.string().parse(id), z.string().parse(attr));
  }
  if (keys.length === 1 && keys[0] === 'Fn::Join') {
    const [sep, parts] = z.tuple([z.string(), z.array(z.unknown())]).parse(value['Fn::Join']);
    return parts.map(str).join(sep);
  }
  if (keys.length === 1 && keys[0] === 'Fn::Select') {
    const [i, list] = z.tuple([z.coerce.number(), z.unknown()]).parse(value['Fn::Select']);
    const items = z.array(z.string()).parse(resolve(resources, list));
    return items[i];
  }
  if (keys.length === 1 && keys[0] === 'Fn::Split') {
    const [sep, s] = z.tuple([z.string(), z.unknown()]).parse(value['Fn::Split']);
    return str(s).split(sep);
  }
  if (keys.length === 1 && keys[0] === 'Fn::Sub') {
    const sub = value['Fn::Sub'];
    const [text, vars] =
      typeof sub === 'string'
        ? [sub, {}]
        : z.tuple([z.string(), z.record(z.string(), z.unknown())]).parse(sub);
    return text.replace(/\$\{([^}!]+)\}/g, (_, name: string) => {
      if (name in vars) return str(vars[name]);
      const dot = name.indexOf('.');
      return dot > 0 && !name.startsWith('AWS::')
        ? getAtt(resources, name.slice(0, dot), name.slice(dot + 1))
        : refOf(resources, name);
    });
  }
  // A plain object (a Condition block): resolve its values.
  if (keys.some((k) => k.startsWith('Fn::'))) throw new Error(`intrinsic ${keys.join(',')} is not resolved`);
  return Object.fromEntries(keys.map((k) => [k, resolve(resources, value[k])]));
}

// ------------------------------------------------------------------------------------- per function

export interface FunctionRole {
  fn: FunctionName;
  functionId: string;
  roleId: string;
  statements: Statement[];
}

const statementsIn = (resources: Resources, document: unknown): Statement[] => {
  const doc = z.object({ Statement: z.array(z.unknown()) }).parse(document);
  return doc.Statement.map((s) => statementSchema.parse(resolve(resources, s)));
};

/** Each function's role and every statement of it: inline policies attached to it, and managed policies. */
export function functionRoles(template: TemplateJson): Map<FunctionName, FunctionRole> {
  const { Resources: resources } = templateSchema.parse(template);
  const out = new Map<FunctionName, FunctionRole>();
  for (const [functionId, r] of Object.entries(resources)) {
    if (r.Type !== 'AWS::Lambda::Function') continue;
    const props = r.Properties ?? {};
    const tags =
      z
        .array(z.object({ Key: z.string(), Value: z.unknown() }))
        .optional()
        .parse(props.Tags) ?? [];
    const fn = FUNCTION_NAMES.find((n) => tags.some((t) => t.Key === FUNCTION_TAG && t.Value === n));
    if (!fn) continue;
    const roleId = z.object({ 'Fn::GetAtt': z.tuple([z.string(), z.literal('Arn')]) }).parse(props.Role)[
      'Fn::GetAtt'
    ][0];
    const statements: Statement[] = [];
    for (const p of Object.values(resources)) {
      if (p.Type !== 'AWS::IAM::Policy' && p.Type !== 'AWS::IAM::ManagedPolicy') continue;
      const roles =
        z
          .array(z.object({ Ref: z.string() }))
          .optional()
          .parse(p.Properties?.Roles) ?? [];
      if (roles.some((x) => x.Ref === roleId))
        statements.push(...statementsIn(resources, p.Properties?.PolicyDocument));
    }
    const role = resources[roleId]?.Properties ?? {};
    for (const m of z.array(z.unknown()).optional().parse(role.ManagedPolicyArns) ?? []) {
      // A managed policy of this template (attached by ARN, a Ref) was counted above; an AWS one is not known here.
      const ref = isRecord(m) && typeof m.Ref === 'string' ? m.Ref : undefined;
      if (!ref || resources[ref]?.Type !== 'AWS::IAM::ManagedPolicy')
        throw new Error(`${fn}'s role has a managed policy this check cannot read: ${JSON.stringify(m)}`);
    }
    for (const p of z
      .array(z.object({ PolicyDocument: z.unknown() }))
      .optional()
      .parse(role.Policies) ?? [])
      statements.push(...statementsIn(resources, p.PolicyDocument));
    out.set(fn, { fn, functionId, roleId, statements });
  }
  return out;
}

/** Where the recorded roles are in the template: read from the functions' environments (lib/config.ts). */
export interface Naming {
  tables: Record<TableRole, string>;
  bucket: string;
  queues: Partial<Record<QueueRole, string>>;
  secrets: Partial<Record<SecretRole, string>>;
}

export function namingOf(template: TemplateJson): Naming {
  const { Resources: resources } = templateSchema.parse(template);
  const env: Record<string, string> = {};
  for (const r of Object.values(resources)) {
    if (r.Type !== 'AWS::Lambda::Function') continue;
    const vars = z
      .object({ Variables: z.record(z.string(), z.unknown()) })
      .optional()
      .parse(r.Properties?.Environment);
    for (const [k, v] of Object.entries(vars?.Variables ?? {})) {
      if (isRecord(v) && typeof v.Ref === 'string') env[k] = v.Ref;
    }
  }
  const need = (k: string) => {
    const id = env[k];
    if (!id) throw new Error(`no function's environment names ${k}`);
    return id;
  };
  return {
    tables: { jobs: need('JOBS_TABLE'), exports: need('EXPORTS_TABLE'), state: need('STATE_TABLE') },
    bucket: physicalName(resources, need('BUCKET')),
    queues: {
      ...(env.DOWNLOAD_QUEUE_URL ? { download: env.DOWNLOAD_QUEUE_URL } : {}),
      ...(env.CONVERT_QUEUE_URL ? { convert: env.CONVERT_QUEUE_URL } : {}),
    },
    secrets: {
      ...(env.ZOHO_SECRET_ARN ? { zoho: env.ZOHO_SECRET_ARN } : {}),
      ...(env.CALLBACK_SECRET_ARN ? { callback: env.CALLBACK_SECRET_ARN } : {}),
    },
  };
}

/** The ARN of a recorded resource, named like the template's (see the top of this file). */
export function arnOf(resource: RecordedResource, naming: Naming): string {
  const must = (id: string | undefined, what: string) => {
    if (!id) throw new Error(`the template has no ${what}`);
    return id;
  };
  switch (resource.kind) {
    case 'table': {
      const arn = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${naming.tables[resource.table]}`;
      return resource.index ? `${arn}/index/${resource.index}` : arn;
    }
    case 'object':
      return `arn:aws:s3:::${naming.bucket}/${resource.key}`;
    case 'bucket':
      return `arn:aws:s3:::${naming.bucket}`;
    case 'queue':
      return `arn:aws:sqs:${REGION}:${ACCOUNT}:${must(naming.queues[resource.queue], `${resource.queue} queue`)}`;
    case 'secret':
      return `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${must(naming.secrets[resource.secret], `${resource.secret} secret`)}`;
    case 'glue-catalog':
      return `arn:aws:glue:${REGION}:${ACCOUNT}:catalog`;
    case 'glue-database':
      return `arn:aws:glue:${REGION}:${ACCOUNT}:database/${resource.database}`;
    case 'glue-table':
      return `arn:aws:glue:${REGION}:${ACCOUNT}:table/${resource.database}/${resource.table}`;
    case 'event-bus':
      return `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/${resource.name}`;
  }
}

// ------------------------------------------------------------------------------------------- check

export interface Denied {
  action: string;
  resource: string;
  via: string;
}

/**
 * Grants Lambda itself uses on the function's behalf, not its code: the log group, and the SQS event
 * source mapping's receive and delete (its GetQueueAttributes stays listed: the send grants add it too).
 */
const SERVICE_SIDE = /^(logs:.*|sqs:(ReceiveMessage|DeleteMessage|ChangeMessageVisibility))$/i;

export interface FunctionReport {
  fn: FunctionName;
  calls: number;
  /** Distinct (action, resource) calls no statement allows. */
  denied: Denied[];
  /** Granted (action, resource pattern) pairs no recorded call used (Lambda's own, SERVICE_SIDE, left out). */
  unused: Array<{ action: string; resource: string }>;
}

/**
 * Every recorded call of every function evaluated against that function's statements. A function
 * with calls but no role in the template is reported with every call denied.
 */
export function checkCalls(template: TemplateJson, calls: readonly RecordedCall[]): FunctionReport[] {
  const roles = functionRoles(template);
  const naming = namingOf(template);
  const byFn = new Map<FunctionName, RecordedCall[]>();
  for (const c of calls) byFn.set(c.fn, [...(byFn.get(c.fn) ?? []), c]);
  const reports: FunctionReport[] = [];
  for (const fn of FUNCTION_NAMES) {
    const mine = byFn.get(fn) ?? [];
    const role = roles.get(fn);
    if (!role && !mine.length) continue;
    const statements = role?.statements ?? [];
    const requests = mine.map((c) => ({
      action: `${c.service}:${c.action}`,
      resource: arnOf(c.resource, naming),
      via: c.via,
      ...(c.context ? { context: c.context } : {}),
    }));
    const denied = new Map<string, Denied>();
    for (const r of requests) {
      if (!evaluate(statements, r).allowed) denied.set(`${r.action} ${r.resource}`, r);
    }
    // A grant is used when some recorded call falls under that action and that resource pattern.
    const unused: FunctionReport['unused'] = [];
    const seen = new Set<string>();
    for (const s of statements) {
      if (s.Effect !== 'Allow' || !s.Action || !s.Resource) continue;
      for (const action of s.Action) {
        if (SERVICE_SIDE.test(action)) continue;
        for (const resource of s.Resource) {
          const one: Statement = { Effect: 'Allow', Action: [action], Resource: [resource] };
          const used = requests.some((r) => statementMatches(one, r));
          const key = `${action} ${resource}`;
          if (!used && !seen.has(key)) {
            seen.add(key);
            unused.push({ action, resource });
          }
        }
      }
    }
    reports.push({ fn, calls: mine.length, denied: [...denied.values()], unused });
  }
  return reports;
}

/** The report as the test prints it. */
export function formatReports(reports: readonly FunctionReport[]): string {
  const lines: string[] = [];
  for (const r of reports) {
    lines.push(`${r.fn}: ${r.calls} calls, ${r.denied.length} denied, ${r.unused.length} grants unused`);
    for (const d of r.denied) lines.push(`  DENIED ${d.action} ${d.resource} (${d.via})`);
    // The unused grants grouped by resource, one line each.
    const byResource = new Map<string, string[]>();
    for (const u of r.unused) byResource.set(u.resource, [...(byResource.get(u.resource) ?? []), u.action]);
    for (const [resource, actions] of byResource)
      lines.push(`  unused on ${resource}: ${actions.join(', ')}`);
  }
  return lines.join('\n');
}
