/** The banner that gives an ESM bundle a `require` (infra/esm-shim.mjs). */
export declare const ESM_REQUIRE_SHIM: string;
