declare module 'snappyjs' {
  /** Snappy raw-block compression (snappyjs 0.7: returns the same kind it is given). */
  export function compress<T extends Uint8Array | ArrayBuffer>(input: T): T;
  export function uncompress<T extends Uint8Array | ArrayBuffer>(input: T, maxLength?: number): T;
}
