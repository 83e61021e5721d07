import { expect, it } from 'vitest';
import { semaphore } from '../../lib/pipeline/poll.js';

it('semaphore: never more than n at once, every call runs, errors free the slot', async () => {
  const slot = semaphore(3);
  let inFlight = 0;
  let peak = 0;
  const results = await Promise.allSettled(
    Array.from({ length: 40 }, (_, i) =>
      slot(async () => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((r) => setTimeout(r, 1 + (i % 4)));
        inFlight--;
        if (i % 7 === 0) throw new Error(`job ${i}`);
        return i;
      }),
    ),
  );
  expect(peak).toBe(3);
  expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(34);
  expect(results.filter((r) => r.status === 'rejected')).toHaveLength(6);
});
