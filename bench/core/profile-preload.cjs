// Preloaded into every node process of `npm start` by the local section with BENCH_PROFILE=dir
// (NODE_OPTIONS=--require <this file>; Node 20 refuses --cpu-prof in NODE_OPTIONS): a V8 CPU profile
// from start to exit, written as <dir>/<script>-<pid>.cpuprofile. Processes killed by SIGKILL write none.
const inspector = require('node:inspector');
const fs = require('node:fs');
const path = require('node:path');

const dir = process.env.BENCH_PROFILE_DIR;
if (dir) {
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  process.on('exit', () => {
    // an in-process session answers synchronously, so this runs before the process is gone
    session.post('Profiler.stop', (err, res) => {
      if (err) return;
      const name = path.basename(process.argv[1] ?? 'node').replace(/[^\w.-]/g, '_');
      fs.writeFileSync(path.join(dir, `${name}-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
