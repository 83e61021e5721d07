/** Small statistics helpers. */

export async function repeat<T>(n: number, f: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(await f(i));
  return out;
}

/** Median (the mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const max = (xs: readonly number[]): number => Math.max(...xs);
export const min = (xs: readonly number[]): number => Math.min(...xs);

/** "median (min-max, n runs)" for a note. */
export function spread(xs: readonly number[], fmt: (n: number) => string): string {
  if (xs.length <= 1) return xs.map(fmt).join('');
  return `${fmt(median(xs))} (${fmt(min(xs))}-${fmt(max(xs))}, ${xs.length} runs)`;
}
