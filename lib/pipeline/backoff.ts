/** Exponential backoff with jitter between half and all of the delay, capped. */
export function backoffMs(
  step: number,
  baseMs: number,
  capMs: number,
  random: () => number = Math.random,
): number {
  const raw = Math.min(capMs, baseMs * 2 ** Math.min(Math.max(step, 0), 20));
  return Math.round(raw / 2 + random() * (raw / 2));
}
