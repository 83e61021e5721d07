import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FakeZoho } from '../../local/fake-zoho/index.js';
import { freshAws, type TestAws } from '../support/aws.js';
import { brokerFor, clientFor, sha256OfIterable, withFake } from '../support/zoho.js';

let aws: TestAws;
let fake: FakeZoho;
beforeAll(async () => {
  aws = await freshAws();
  fake = await withFake();
});
afterAll(async () => fake?.close());

/** Streams one result through the client, sampling RSS; returns bytes, hash and peak RSS growth. */
async function streamOne(records: number, padding: number) {
  const job = fake.addJob({ module: 'Leads', totalRecords: records, padding });
  fake.completeNow(job.id);
  const client = clientFor(brokerFor(fake, aws));
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  try {
    const { stream, verified } = await client.downloadResult(`/crm/bulk/v8/read/${job.id}/result`);
    const got = await sha256OfIterable(stream);
    await verified;
    return { job, got, growth: peak - base };
  } finally {
    clearInterval(timer);
  }
}

it('streams a CSV over 100 MB with memory that does not grow with its size', async () => {
  const small = await streamOne(20_000, 1000); // ~ 22 MB
  const large = await streamOne(100_000, 1100); // ~ 120 MB
  expect(large.got.bytes).toBeGreaterThan(100 * 1024 * 1024);
  expect(large.got.bytes).toBeGreaterThan(4 * small.got.bytes);
  // Byte-identical to what the fake zipped.
  expect(large.got).toEqual(await sha256OfIterable(fake.csv(large.job.id)));
  const mb = (n: number) => Math.round(n / 1024 / 1024);
  console.log(
    `streamed ${mb(small.got.bytes)} MB with RSS growth ${mb(small.growth)} MB; ${mb(large.got.bytes)} MB with ${mb(large.growth)} MB`,
  );
  // Buffering would need >= 100 MB more for the large file; streaming stays flat.
  expect(large.growth).toBeLessThan(64 * 1024 * 1024);
  expect(large.growth - small.growth).toBeLessThan(32 * 1024 * 1024);
}, 120_000);
