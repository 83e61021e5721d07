/** Helpers of the suites that drive the bundled `npm start` from outside (start, black-box, no-secrets). */
import { assertPortFree } from '../../local/stand-ins.js';

/** `n` free ports below Linux's ephemeral range (the stack's children bind them after the check). */
export async function freePorts(n: number): Promise<number[]> {
  const picked = new Set<number>();
  while (picked.size < n) {
    const p = 20_000 + Math.floor(Math.random() * 10_000);
    if (picked.has(p)) continue;
    if (
      await assertPortFree(p, 'test', 'test').then(
        () => true,
        () => false,
      )
    )
      picked.add(p);
  }
  return [...picked];
}

/** Polls `fn` every `stepMs` until it answers a value, or fails naming `what` after `ms`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  ms: number,
  stepMs = 250,
): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}
