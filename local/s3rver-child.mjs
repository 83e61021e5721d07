// Runs s3rver in its own process. Started by local/stand-ins.ts with --openssl-legacy-provider
// (s3rver encrypts list continuation tokens with DES; without the flag paginated lists fail).
import S3rver from 's3rver';

const [port, directory, ...buckets] = process.argv.slice(2);
const server = new S3rver({
  port: Number(port),
  address: '127.0.0.1',
  directory,
  silent: true,
  configureBuckets: buckets.map((name) => ({ name })),
});
server
  .run()
  .then(() => process.send?.({ ready: true }))
  .catch((e) => {
    process.send?.({ error: String(e?.message ?? e) });
    process.exit(1);
  });
const stop = () => server.close().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
