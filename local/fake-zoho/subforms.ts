/**
 * Line items: the subform modules `Quoted_Items`, `Ordered_Items`, `Invoiced_Items` and `Purchase_Items`
 * (fields.ts SUBFORM_PARENTS). Each is a record store of its own, exported by Bulk Read under its own
 * API name; every row's `Parent_Id` is the parent record's id.
 *
 * Choices where Zoho is silent (docs/…/tables-and-modules.md §1b), each the stricter reading:
 *   - adding, editing or removing a line item does NOT change the parent's Modified_Time (Zoho does not
 *     say it does), so "re-read the lines of the parents modified since" cannot be relied on;
 *   - a removed line item is gone for good (a permanent deletion: no recycle bin for subform rows);
 *   - deleting a parent deletes its line items (same time, same type); restoring the parent from the
 *     recycle bin restores the line items that deletion took;
 *   - the deleted-records API refuses subform modules (MODULE_NOT_SUPPORTED): Zoho lists no subform
 *     among the modules it supports.
 * Each line item carries its own Created_Time and Modified_Time (an edit bumps only the item's).
 */
import { recordId, recordIndex, SUBFORM_PARENTS } from './fields.js';
import { type ModuleStore, type RecordStores, StoreError } from './records.js';
import type { RecordTarget } from './types.js';

export const isSubformModule = (module: string): boolean => SUBFORM_PARENTS[module] !== undefined;

/** The subform modules whose parent module is `module`. */
export const subformsOf = (module: string): string[] =>
  Object.entries(SUBFORM_PARENTS)
    .filter(([, parent]) => parent === module)
    .map(([sub]) => sub);

function subformStore(stores: RecordStores, subform: string): ModuleStore {
  if (!isSubformModule(subform)) throw new StoreError(`${subform} is not a subform (line-item) module`);
  return stores.get(subform);
}

/** Live line-item indexes of the given parents (ids) in a subform store. */
function itemsOf(store: ModuleStore, parents: Set<string>): number[] {
  const s = store.state();
  const out: number[] = [];
  for (let n = 0; n < s.slots; n++) {
    if (s.deleted.has(n)) continue;
    if (parents.has(store.parentOf(s, n) ?? '')) out.push(n);
  }
  return out;
}

/** Ids of the live line items of one parent record, in id order. */
export function lineItemIds(stores: RecordStores, subform: string, parentId: string): string[] {
  const store = subformStore(stores, subform);
  return itemsOf(store, new Set([parentId])).map((n) => recordId(subform, n));
}

/** Adds `count` line items to a live parent record (Created_Time = Modified_Time = `at`). */
export function addLineItems(
  stores: RecordStores,
  subform: string,
  parentId: string,
  count: number,
  at: number,
): string[] {
  const store = subformStore(stores, subform);
  const parentModule = SUBFORM_PARENTS[subform]!;
  // Throws for an unknown or deleted parent.
  stores.get(parentModule).resolve({ ids: [parentId] });
  return store.create(count, at, parentId);
}

/** Deletes records of `module`; when it is a parent module, its line items go with them. */
export function deleteWithLineItems(
  stores: RecordStores,
  module: string,
  target: RecordTarget,
  at: number,
  type: 'recycle' | 'permanent',
  by: string,
): string[] {
  const ids = stores.get(module).delete(target, at, type, by);
  const parents = new Set(ids);
  for (const sub of subformsOf(module)) {
    const store = stores.get(sub);
    const items = itemsOf(store, parents);
    if (items.length) store.delete({ indexes: items }, at, type, by);
  }
  return ids;
}

/** Restores parent records from the recycle bin, and the line items their deletion took. */
export function restoreWithLineItems(
  stores: RecordStores,
  module: string,
  target: RecordTarget,
  at: number,
): string[] {
  const parentStore = stores.get(module);
  const before = parentStore.state();
  const deletedAt = new Map<string, number>();
  for (const id of target.ids ?? []) {
    const n = recordIndex(module, String(id));
    const d = n === undefined ? undefined : before.deleted.get(n);
    if (d) deletedAt.set(String(id), d.at);
  }
  for (const n of target.indexes ?? []) {
    const d = before.deleted.get(n);
    if (d) deletedAt.set(recordId(module, n), d.at);
  }
  const ids = parentStore.restore(target, at);
  for (const sub of subformsOf(module)) {
    const store = stores.get(sub);
    const s = store.state();
    const items: number[] = [];
    for (const [n, d] of s.deleted) {
      const parent = store.parentOf(s, n);
      if (parent !== undefined && d.type === 'recycle' && deletedAt.get(parent) === d.at) items.push(n);
    }
    if (items.length) store.restore({ indexes: items }, at);
  }
  return ids;
}
