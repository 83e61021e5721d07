/**
 * One item that many functions change at once (the download budget, the Zoho job slots): read it
 * (parsed with zod), decide, and write the decision only if nobody wrote since (`version`
 * compare-and-set); on a lost race, read again after a short jittered pause, at most `maxAttempts`
 * times, then `busy()` is thrown. DynamoDB has no read-modify-write of a list in one expression, hence
 * by hand.
 */
import type { ZodType } from 'zod';
import { eq, missing } from './expr.js';
import { parseOptionalRecord } from './record.js';
import type { Item, Table } from './table.js';

export interface VersionedItem {
  pk: string;
  version?: number;
}

export class VersionedItemStore<I extends VersionedItem> {
  constructor(
    private readonly table: Table,
    private readonly key: Item & { pk: string },
    private readonly schema: ZodType<I>,
    /** The item before its first write. */
    private readonly fresh: I,
    private readonly o: { maxAttempts: number; busy: () => Error },
  ) {}

  /** The item as stored (or just its key, before its first write). */
  async read(): Promise<I> {
    const item = parseOptionalRecord(this.schema, await this.table.get(this.key), {
      table: this.table.name,
      key: this.key,
    });
    return item ?? this.fresh;
  }

  /**
   * `step` decides from the item read: `set` (the attributes to write; `version` is added) or nothing
   * to write; `result` is returned once the write (if any) won.
   */
  async change<T>(step: (item: I) => { set?: Record<string, unknown>; result: T }): Promise<T> {
    for (let i = 0; i < this.o.maxAttempts; i++) {
      const item = await this.read();
      const { set, result } = step(item);
      if (!set) return result;
      const version = item.version ?? 0;
      const written = await this.table.update(
        this.key,
        { set: { ...set, version: version + 1 } },
        item.version === undefined ? missing('version') : eq('version', version),
      );
      if (written !== false) return result;
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 10 * (i + 1)));
    }
    throw this.o.busy();
  }
}
