/**
 * Generation + deflate throughput of the fake, in MiB of CSV per second of one download over loopback
 * HTTP (what the benchmarks' "fake Zoho live ZIP" figure measures, without curl):
 *
 *   npx tsx local/fake-zoho/throughput.ts                 # 200,000 Contacts, padding 2400 (~0.5 GB)
 *   PAD=7250 RUNS=3 npx tsx local/fake-zoho/throughput.ts # ~1.5 GB
 *   FZ=/path/to/old/local/fake-zoho/index.ts npx tsx local/fake-zoho/throughput.ts   # another copy
 *
 * Environment: PAD (padding per row), N (records), RUNS, ZIPC (zipConcurrency), FZ (module to load).
 */
import { pathToFileURL } from 'node:url';

type Module = typeof import('./index.js');

const mod = (
  process.env.FZ ? await import(pathToFileURL(process.env.FZ).href) : await import('./index.js')
) as Module;
const padding = Number(process.env.PAD ?? 2400);
const records = Number(process.env.N ?? 200_000);
const runs = Number(process.env.RUNS ?? 2);
const zipc = process.env.ZIPC ? { zipConcurrency: Number(process.env.ZIPC) } : {};

const fake = await mod.startFakeZoho({
  downloadsPerMinute: 1000,
  timeline: { queuedAfterMs: 0, inProgressAfterMs: 0, completedAfterMs: 0 },
  ...zipc,
});
try {
  const tr = await fetch(`${fake.url}/oauth/v2/token`, {
    method: 'POST',
    body: new URLSearchParams({
      client_id: mod.DEFAULT_CLIENT.clientId,
      client_secret: mod.DEFAULT_CLIENT.clientSecret,
      refresh_token: mod.DEFAULT_CLIENT.refreshToken,
      grant_type: 'refresh_token',
    }),
  });
  const token = ((await tr.json()) as { access_token: string }).access_token;
  for (let i = 0; i < runs; i++) {
    const job = fake.addJob({ totalRecords: records, padding });
    let csv = 0;
    for await (const c of fake.csv(job.id)) csv += c.length;
    const t0 = performance.now();
    const res = await fetch(`${fake.url}/crm/bulk/v8/read/${job.id}/result`, {
      headers: { authorization: `Zoho-oauthtoken ${token}` },
    });
    let zip = 0;
    const reader = res.body!.getReader();
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      zip += r.value.length;
    }
    const s = (performance.now() - t0) / 1000;
    const mib = csv / 2 ** 20;
    console.log(
      `padding ${padding}: CSV ${mib.toFixed(0)} MiB, ZIP ${(zip / 2 ** 20).toFixed(0)} MiB, ${s.toFixed(2)} s: ${(mib / s).toFixed(1)} MiB/s of CSV`,
    );
  }
} finally {
  await fake.close();
}
