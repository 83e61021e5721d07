/**
 * `npm start`: the whole product locally, on built-in defaults. See README "Quick start".
 * `npm start -- --reset` (or LOCAL_RESET=1) starts from empty. Stops cleanly on SIGINT / SIGTERM,
 * leaving no child process behind.
 */
import { ConfigError } from '../lib/config.js';
import { LocalStackError, startLocalStack } from './local-stack.js';
import { StandInError } from './stand-ins.js';

// The pinned AWS SDK runs on Node 20; its notice about future releases needing Node 22 is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const USAGE =
  'usage: npm start [-- --reset]   (--reset: start from empty, deleting the local tables, objects and fake Zoho state)';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  for (const a of args) {
    if (a === '--reset') process.env.LOCAL_RESET = '1';
    else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      return;
    } else {
      console.error(`npm start: unknown argument ${JSON.stringify(a)}\n${USAGE}`);
      process.exit(2);
    }
  }
  let stack: Awaited<ReturnType<typeof startLocalStack>>;
  try {
    stack = await startLocalStack(process.env);
  } catch (e) {
    if (e instanceof StandInError || e instanceof LocalStackError || e instanceof ConfigError) {
      console.error(`\nnpm start: ${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping the local stack...`);
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    stack
      .stop()
      .then(() => {
        console.log('stopped.');
        process.exit(0);
      })
      .catch((e) => {
        console.error(e);
        process.exit(1);
      });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
