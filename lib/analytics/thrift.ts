/**
 * The part of Thrift's compact protocol that a Parquet footer and page headers need: structs of
 * i32/i64/bool/binary/struct/list fields. Integers are numbers (safe up to 2^53: file offsets, row
 * counts); the writer only grows.
 */

import { ByteBuffer } from './bytes.js';

export const T_TRUE = 1;
export const T_FALSE = 2;
export const T_I32 = 5;
export const T_I64 = 6;
export const T_BINARY = 8;
export const T_LIST = 9;
export const T_STRUCT = 12;

export class ThriftWriter {
  private readonly out = new ByteBuffer(256);
  private last: number[] = [];
  private lastId = 0;

  private zigzag(v: number): void {
    this.out.varint(v >= 0 ? v * 2 : -v * 2 - 1);
  }

  private header(id: number, type: number): void {
    const delta = id - this.lastId;
    if (delta > 0 && delta <= 15) this.out.u8((delta << 4) | type);
    else {
      this.out.u8(type);
      this.zigzag(id);
    }
    this.lastId = id;
  }

  i32(id: number, v: number): this {
    this.header(id, T_I32);
    this.zigzag(v);
    return this;
  }

  i64(id: number, v: number): this {
    this.header(id, T_I64);
    this.zigzag(v);
    return this;
  }

  bool(id: number, v: boolean): this {
    this.header(id, v ? T_TRUE : T_FALSE);
    return this;
  }

  binary(id: number, v: Uint8Array): this {
    this.header(id, T_BINARY);
    this.out.varint(v.length);
    this.out.bytes(v);
    return this;
  }

  string(id: number, v: string): this {
    return this.binary(id, Buffer.from(v, 'utf8'));
  }

  struct(id: number, body: (w: this) => void): this {
    this.header(id, T_STRUCT);
    this.beginStruct();
    body(this);
    this.endStruct();
    return this;
  }

  /** A list of structs. */
  structs<T>(id: number, items: readonly T[], body: (w: this, item: T) => void): this {
    this.list(id, T_STRUCT, items.length);
    for (const item of items) {
      this.beginStruct();
      body(this, item);
      this.endStruct();
    }
    return this;
  }

  i32s(id: number, items: readonly number[]): this {
    this.list(id, T_I32, items.length);
    for (const v of items) this.zigzag(v);
    return this;
  }

  strings(id: number, items: readonly string[]): this {
    this.list(id, T_BINARY, items.length);
    for (const s of items) {
      const b = Buffer.from(s, 'utf8');
      this.out.varint(b.length);
      this.out.bytes(b);
    }
    return this;
  }

  /** A list field's header; the caller then writes `size` elements. */
  list(id: number, elemType: number, size: number): void {
    this.header(id, T_LIST);
    if (size < 15) this.out.u8((size << 4) | elemType);
    else {
      this.out.u8(0xf0 | elemType);
      this.out.varint(size);
    }
  }

  beginStruct(): void {
    this.last.push(this.lastId);
    this.lastId = 0;
  }

  endStruct(): void {
    this.out.u8(0); // STOP
    this.lastId = this.last.pop() ?? 0;
  }

  /** The bytes of a top-level struct written by `body` (ends with its STOP byte). */
  static struct(body: (w: ThriftWriter) => void): Buffer {
    const w = new ThriftWriter();
    body(w);
    w.out.u8(0);
    return w.out.view();
  }
}
