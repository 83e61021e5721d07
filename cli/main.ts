/**
 * zoho-export: the command line of the Zoho CRM Bulk Read -> S3 exporter, a thin client of its HTTP
 * API. `run()` is the whole CLI as a function (tests call it in-process); the bottom of this file is
 * the process entry (signals, exit code).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_STACK } from './api-url.js';
import {
  downloadCommand,
  exportCommand,
  exportsGet,
  exportsList,
  jobsGet,
  jobsList,
  jobsRegister,
  modulesList,
  schedulesList,
  schedulesRun,
} from './commands.js';
import { Context, type GlobalOptions, type Io } from './context.js';
import { ApiError, CliError, EXIT } from './errors.js';
import { queryCommand } from './query.js';
import { snapshotCommand } from './snapshot.js';
import { Interrupted } from './watch.js';

export type { Io };

function cliVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 3; i++) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      try {
        return (JSON.parse(readFileSync(p, 'utf8')) as { version?: string }).version ?? '0.0.0';
      } catch {
        return '0.0.0';
      }
    }
    dir = dirname(dir);
  }
  return '0.0.0';
}

const seconds = (what: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(v) || !Number.isFinite(n) || n < min) {
    throw new InvalidArgumentError(`${what}: a number of seconds, at least ${min}`);
  }
  return n;
};

export interface RunOptions {
  /** Replaces the CloudFormation lookup (tests). */
  describeStack?: ConstructorParameters<typeof Context>[3];
}

/** Runs the CLI on `argv` (the arguments after the program name); resolves to the exit code. */
export async function run(argv: string[], io: Io, opts: RunOptions = {}): Promise<number> {
  const version = cliVersion();
  let exitCode: number = EXIT.OK;
  let json = false;

  const program = new Command('zoho-export')
    .description(
      "Export Zoho CRM modules to S3 through the exporter's API, watch exports, download verified files.",
    )
    .version(version, '-V, --version')
    .option(
      '--api <url>',
      'the API base URL (else ZOHO_EXPORT_API, outputs.json, the stack, http://127.0.0.1:3000)',
    )
    .addOption(
      new Option('--stack <name>', 'the CloudFormation stack to read ApiUrl from')
        .env('ZOHO_EXPORT_STACK')
        .default(DEFAULT_STACK),
    )
    .option('--outputs-file <path>', 'a CDK outputs file (cdk deploy --outputs-file) to read ApiUrl from')
    .option('--region <region>', 'AWS region for the stack lookup and S3 (else the SDK default)')
    .option(
      '--profile <name>',
      'AWS profile for signing, the stack lookup and S3 (else AWS_PROFILE / default chain)',
    )
    .option(
      '--sigv4-region <region>',
      'sign requests with SigV4 for this region even if the URL is not execute-api (custom domains)',
    )
    .option(
      '--s3-endpoint <url>',
      'S3 endpoint for download (default for the local stack: http://127.0.0.1:4569)',
    )
    .option('--json', 'machine-readable output only (JSON on stdout)')
    .addOption(
      new Option('--timeout <seconds>', 'timeout of one API request')
        .default(30)
        .argParser(seconds('--timeout', 1)),
    )
    .option('-v, --verbose', 'say which API is used and why (stderr)')
    .showHelpAfterError('(zoho-export --help shows the commands)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });

  const ctxFor = (cmd: Command): Context => {
    const g = cmd.optsWithGlobals<GlobalOptions>();
    json = !!g.json;
    return new Context(io, g, version, opts.describeStack);
  };
  const action =
    <A extends unknown[]>(fn: (ctx: Context, ...args: A) => Promise<number>) =>
    async (...args: unknown[]) => {
      const cmd = args[args.length - 1] as Command;
      exitCode = await fn(ctxFor(cmd), ...(args.slice(0, -1) as A));
    };
  const watchOptions = (c: Command): Command =>
    c
      .option('-w, --watch', 'follow it until it ends (live view on a terminal, a line per change otherwise)')
      .addOption(
        new Option('--interval <seconds>', 'seconds between polls while watching')
          .default(2)
          .argParser(seconds('--interval', 0.2)),
      );

  watchOptions(
    program
      .command('export')
      .description('start an export of a Zoho module (POST /exports)')
      .argument('<module>', 'the module API name, e.g. Contacts')
      .option('--fields <a,b,...>', 'field API names to export (default: all)')
      .option('--criteria <json|@file>', 'Zoho bulk read criteria as JSON, or @file.json')
      .option('--cvid <id>', 'a custom view id')
      .option(
        '--idempotency-key <key>',
        'send Idempotency-Key: a retry with the same key returns the same export',
      ),
  ).action(
    action((ctx, module: string, f: Parameters<typeof exportCommand>[2]) => exportCommand(ctx, module, f)),
  );

  watchOptions(
    program
      .command('snapshot')
      .description(
        'export several modules (or every exportable one) as one snapshot (POST /snapshots); --watch follows it and lists the tables it touched',
      )
      .option('--all', 'every exportable module')
      .option('--modules <a,b,...>', 'these modules (API names), e.g. Contacts,Leads'),
  ).action(action((ctx, f: Parameters<typeof snapshotCommand>[1]) => snapshotCommand(ctx, f)));

  const exportsCmd = program.command('exports').description('list and read exports');
  exportsCmd
    .command('list')
    .description('list exports, newest first (follows `next` to the end, or up to --limit)')
    .option('--module <module>', 'only this module')
    .option('--status <status>', 'RUNNING, COMPLETED or FAILED')
    .option('--limit <n>', 'at most n exports')
    .option('--next <cursor>', 'start from this cursor (a previous listing printed it)')
    .option('--page-size <n>', 'exports per API request, 1 to 100 (default 100)')
    .action(action((ctx, f: Parameters<typeof exportsList>[1]) => exportsList(ctx, f)));
  watchOptions(
    exportsCmd.command('get').description('show one export (GET /exports/{id})').argument('<export_id>'),
  ).action(action((ctx, id: string, f: Parameters<typeof exportsGet>[2]) => exportsGet(ctx, id, f)));

  const jobsCmd = program.command('jobs').description('register and read Zoho bulk read jobs made elsewhere');
  watchOptions(
    jobsCmd
      .command('register')
      .description('register a Zoho bulk read job (POST /jobs); --watch follows its export')
      .argument('<job_id>', "Zoho's job id, 1 to 19 digits"),
  ).action(action((ctx, id: string, f: Parameters<typeof jobsRegister>[2]) => jobsRegister(ctx, id, f)));
  jobsCmd
    .command('get')
    .description('show one job (GET /jobs/{id})')
    .argument('<job_id>')
    .action(action((ctx, id: string) => jobsGet(ctx, id)));
  jobsCmd
    .command('list')
    .description('list jobs (follows `next` to the end, or up to --limit)')
    .option('--status <status>', 'PENDING, DOWNLOADING, EXPORTED or FAILED')
    .option('--limit <n>', 'at most n jobs')
    .option('--next <cursor>', 'start from this cursor')
    .option('--page-size <n>', 'jobs per API request, 1 to 100 (default 100)')
    .action(action((ctx, f: Parameters<typeof jobsList>[1]) => jobsList(ctx, f)));

  program
    .command('modules')
    .description(
      'list the modules of the Zoho org: kind, parent, whether Bulk Read can export it and why not (GET /modules)',
    )
    .option('--exportable', 'only the modules that can be exported')
    .option('--refresh', "ask Zoho again instead of the API's cached list (1 h)")
    .action(action((ctx, f: Parameters<typeof modulesList>[1]) => modulesList(ctx, f)));

  const schedulesCmd = program.command('schedules').description('scheduled exports');
  schedulesCmd
    .command('list')
    .description('list the schedules (GET /schedules)')
    .action(action((ctx) => schedulesList(ctx)));
  watchOptions(
    schedulesCmd
      .command('run')
      .description('run a schedule now (POST /schedules/{name}/runs)')
      .argument('<name>'),
  ).action(action((ctx, name: string, f: Parameters<typeof schedulesRun>[2]) => schedulesRun(ctx, name, f)));

  program
    .command('download')
    .description('download every file of a COMPLETED export, verified against its manifest')
    .argument('<export_id>')
    .option('--dir <dir>', 'where to put the files (default: ./<export_id>)')
    .addOption(new Option('--format <format>', 'csv or parquet').default('csv'))
    .action(
      action((ctx, id: string, f: Parameters<typeof downloadCommand>[2]) => downloadCommand(ctx, id, f)),
    );

  program
    .command('query')
    .description(
      "run SQL on the exported tables: Athena in the stack's workgroup, or DuckDB over the local stack's files",
    )
    .argument('<sql>', 'the SQL, e.g. "SELECT count(*) FROM zoho_crm.zoho_contacts"')
    .option('--csv', 'CSV (RFC 4180) on stdout instead of a table')
    .option('--workgroup <name>', 'the Athena workgroup (else the stack output AthenaWorkGroupName)')
    .option('--database <name>', 'the default database (else the stack output GlueDatabaseName, zoho_crm)')
    .option(
      '--athena-endpoint <url>',
      'an Athena endpoint URL (else ZOHO_EXPORT_ATHENA_ENDPOINT, the AWS default)',
    )
    .addOption(
      new Option('--max-wait <seconds>', 'stop the Athena query after this long')
        .default(1800)
        .argParser(seconds('--max-wait', 1)),
    )
    .action(action((ctx, sql: string, f: Parameters<typeof queryCommand>[2]) => queryCommand(ctx, sql, f)));

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (e) {
    return report(e, io, json || argv.includes('--json'));
  }
}

/** Prints an error (never a stack trace) and returns its exit code. */
function report(e: unknown, io: Io, json: boolean): number {
  if (e instanceof CommanderError) {
    // Help and --version end with exit 0; everything else commander refuses is a usage error.
    return e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  }
  if (e instanceof Interrupted) {
    io.stderr.write(`\n${e.message === 'interrupted' ? 'interrupted' : e.message}\n`);
    return EXIT.INTERRUPTED;
  }
  if (e instanceof CliError) {
    if (json) {
      io.stderr.write(`${JSON.stringify({ error: { code: e.code, message: e.message, ...e.details } })}\n`);
    } else if (e instanceof ApiError) {
      io.stderr.write(`zoho-export: ${e.message} (${e.code}, HTTP ${e.status})\n`);
    } else {
      io.stderr.write(`zoho-export: ${e.message}\n`);
    }
    return e.exitCode;
  }
  // A bug: say so in one line, with the message only.
  const msg = (e as Error)?.message ?? String(e);
  if (json) io.stderr.write(`${JSON.stringify({ error: { code: 'INTERNAL', message: msg } })}\n`);
  else io.stderr.write(`zoho-export: unexpected error: ${msg}\n`);
  return EXIT.API;
}

/** The process entry: Ctrl-C stops a watch cleanly (a second one exits at once). */
export async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const abort = new AbortController();
  process.on('SIGINT', () => {
    if (abort.signal.aborted) process.exit(EXIT.INTERRUPTED);
    abort.abort();
  });
  const code = await run(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    signal: abort.signal,
  });
  process.exitCode = code;
  // Let stdout drain, then leave even if an SDK socket lingers.
  process.stdout.write('', () => setTimeout(() => process.exit(code), 0).unref());
}

const invokedDirectly = (() => {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return fileURLToPath(import.meta.url) === entry || import.meta.url.endsWith(entry.replace(/\\/g, '/'));
  } catch {
    return false;
  }
})();
if (invokedDirectly) void main();
