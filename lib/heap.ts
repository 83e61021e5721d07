import { setFlagsFromString } from 'node:v8';

/**
 * How much V8 lets the old generation grow past what a full GC left alive, in percent
 * (`--heap-growing-percent`; without it V8 derives the factor from its own GC speed figures).
 *
 * A download allocates about 2.6 bytes of ArrayBuffers per CSV byte (socket reads, inflate output,
 * lib-storage's part buffers), and V8 counts the ArrayBuffer bytes allocated since the last full GC
 * against the old generation's limit. This process's JS heap is small (about 15 MB), so the limit is
 * small too, and GC ran often: about 80 collections, 30+ of them full, per 300 MB streamed, with
 * concurrent marking on helper threads competing with inflate for the cores. Measured (see
 * docs/architecture.md, "Performance notes"): 150% gave 8-10% more throughput at the same or lower
 * peak RSS; 300% gave 15-18% but about 20 MB more peak RSS, too close to the 200 MB budget.
 * A runtime setting: V8 reads it whenever it computes a new limit.
 */
export const HEAP_GROWING_PERCENT = 150;

/** Applies HEAP_GROWING_PERCENT to this process (the download function calls it at start-up). */
export function tuneHeapForStreaming(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
