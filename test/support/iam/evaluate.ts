/**
 * IAM policy evaluation, the part the exporter's identity policies use: Allow/Deny, Action/NotAction and
 * Resource/NotResource with `*` and `?` wildcards (actions case-insensitive), and the string, ARN and
 * Bool condition operators. A request is allowed iff some Allow matches and no Deny does. An operator
 * it does not know fails loudly: a check that silently ignored a condition would prove nothing.
 */
import { z } from 'zod';

const scalar = z.union([z.string(), z.boolean(), z.number()]).transform(String);
const stringOrList = z.union([scalar, z.array(scalar)]).transform((v) => [v].flat());

/** A statement whose resources are concrete strings (intrinsics resolved: test/support/iam/template.ts). */
export const statementSchema = z
  .object({
    Sid: z.string().optional(),
    Effect: z.enum(['Allow', 'Deny']),
    Action: stringOrList.optional(),
    NotAction: stringOrList.optional(),
    Resource: stringOrList.optional(),
    NotResource: stringOrList.optional(),
    Condition: z.record(z.string(), z.record(z.string(), stringOrList)).optional(),
  })
  .refine((s) => (s.Action === undefined) !== (s.NotAction === undefined), 'exactly one of Action, NotAction')
  .refine(
    (s) => (s.Resource === undefined) !== (s.NotResource === undefined),
    'exactly one of Resource, NotResource',
  );
export type Statement = z.output<typeof statementSchema>;

export interface Request {
  /** `service:Action`. */
  action: string;
  resource: string;
  /** Condition keys of the request (`s3:prefix`, ...); a key absent here is absent from the request. */
  context?: Record<string, string | string[]>;
}

const escapeRegExp = (s: string) => s.replace(/[.+^${}()|[\]\\]/g, '\\$&');

/** IAM's wildcard match: `*` any run of characters (`/` and `:` included), `?` one character. */
export function wildcardMatch(pattern: string, value: string, caseInsensitive = false): boolean {
  const re = `^${escapeRegExp(pattern).replace(/\*/g, '.*').replace(/\?/g, '.')}$`;
  return new RegExp(re, caseInsensitive ? 'is' : 's').test(value);
}

const actionMatches = (patterns: string[], action: string) =>
  patterns.some((p) => wildcardMatch(p, action, true));
const resourceMatches = (patterns: string[], resource: string) =>
  patterns.some((p) => wildcardMatch(p, resource));

type Test = (want: string, got: string) => boolean;
const OPERATORS: Record<string, { test: Test; negated: boolean }> = {
  StringEquals: { test: (w, g) => w === g, negated: false },
  StringNotEquals: { test: (w, g) => w === g, negated: true },
  StringEqualsIgnoreCase: { test: (w, g) => w.toLowerCase() === g.toLowerCase(), negated: false },
  StringLike: { test: (w, g) => wildcardMatch(w, g), negated: false },
  StringNotLike: { test: (w, g) => wildcardMatch(w, g), negated: true },
  ArnEquals: { test: (w, g) => w === g, negated: false },
  ArnLike: { test: (w, g) => wildcardMatch(w, g), negated: false },
  ArnNotEquals: { test: (w, g) => w === g, negated: true },
  ArnNotLike: { test: (w, g) => wildcardMatch(w, g), negated: true },
  Bool: { test: (w, g) => w.toLowerCase() === g.toLowerCase(), negated: false },
};

/** One condition block: every operator, every key in it must hold (values of one key are ORed). */
export function conditionHolds(condition: Statement['Condition'], context: Request['context'] = {}): boolean {
  for (const [rawOp, keys] of Object.entries(condition ?? {})) {
    const ifExists = rawOp.endsWith('IfExists');
    const op = ifExists ? rawOp.slice(0, -'IfExists'.length) : rawOp;
    const spec = OPERATORS[op];
    if (!spec) throw new Error(`IAM condition operator ${rawOp} is not supported by this evaluator`);
    for (const [key, wanted] of Object.entries(keys)) {
      const present = Object.keys(context).find((k) => k.toLowerCase() === key.toLowerCase());
      if (present === undefined) {
        // An absent key: a negated operator (and any ...IfExists) holds, a positive one does not.
        if (ifExists || spec.negated) continue;
        return false;
      }
      const got = [context[present] ?? []].flat();
      const any = got.some((g) => wanted.some((w) => spec.test(w, g)));
      if (spec.negated ? any : !any) return false;
    }
  }
  return true;
}

/** Whether one statement applies to the request (its effect aside). */
export function statementMatches(s: Statement, r: Request): boolean {
  const action = s.Action ? actionMatches(s.Action, r.action) : !actionMatches(s.NotAction ?? [], r.action);
  if (!action) return false;
  const resource = s.Resource
    ? resourceMatches(s.Resource, r.resource)
    : !resourceMatches(s.NotResource ?? [], r.resource);
  return resource && conditionHolds(s.Condition, r.context);
}

export interface Decision {
  allowed: boolean;
  /** Indexes of the Allow statements that match. */
  allowedBy: number[];
  /** Indexes of the Deny statements that match. */
  deniedBy: number[];
}

export function evaluate(statements: readonly Statement[], r: Request): Decision {
  const allowedBy: number[] = [];
  const deniedBy: number[] = [];
  statements.forEach((s, i) => {
    if (statementMatches(s, r)) (s.Effect === 'Allow' ? allowedBy : deniedBy).push(i);
  });
  return { allowed: allowedBy.length > 0 && deniedBy.length === 0, allowedBy, deniedBy };
}
