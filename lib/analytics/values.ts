/**
 * Parsers from CSV text to typed values. Each returns `INVALID` when the text is not a value of its
 * type; the caller writes NULL and records the raw text. None goes through a JS number where that
 * could lose digits (INT64 and DECIMAL are built as bigint from the digits).
 */

export const INVALID: unique symbol = Symbol('invalid');
export type Invalid = typeof INVALID;

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

const INT_RE = /^[+-]?\d{1,19}$/;

/** A base-10 integer within the signed 64-bit range: `-12`, `3652397000000646004`. */
export function parseInt64(s: string): bigint | Invalid {
  if (!INT_RE.test(s)) return INVALID;
  // Up to 15 digits fit a double exactly; more go through BigInt's own parser.
  if (s.length <= 15) return BigInt(Number(s));
  const v = BigInt(s);
  return v > INT64_MAX || v < INT64_MIN ? INVALID : v;
}

const DOUBLE_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A decimal number in plain or exponent notation; no hex, no `Infinity`, no spaces. */
export function parseDouble(s: string): number | Invalid {
  if (!DOUBLE_RE.test(s)) return INVALID;
  const v = Number(s);
  return Number.isFinite(v) ? v : INVALID;
}

const DECIMAL_RE = /^([+-]?)(\d*)(?:\.(\d*))?$/;

/**
 * The unscaled value of a DECIMAL(precision, scale), exact: `12.5` at scale 2 is `1250n`. More
 * fractional digits than `scale` are accepted only when the extra ones are zeros (no rounding:
 * `1.005` at scale 2 is INVALID, not 1.00 or 1.01). Exponent notation is INVALID.
 */
export function parseDecimal(s: string, precision: number, scale: number): bigint | Invalid {
  const m = DECIMAL_RE.exec(s);
  if (!m) return INVALID;
  const sign = m[1] ?? '';
  const intPart = m[2] ?? '';
  let frac = m[3] ?? '';
  if (intPart === '' && frac === '') return INVALID;
  if (frac.length > scale) {
    for (let k = scale; k < frac.length; k++) if (frac.charCodeAt(k) !== 0x30) return INVALID;
    frac = frac.slice(0, scale);
  } else if (frac.length < scale) {
    frac = frac.padEnd(scale, '0');
  }
  const digits = (intPart + frac).replace(/^0+(?=\d)/, '');
  if (digits.length > precision) return INVALID;
  if (digits.length <= 15) {
    const v = Number(digits);
    return BigInt(sign === '-' ? -v : v);
  }
  const v = BigInt(digits);
  return sign === '-' ? -v : v;
}

/** `true` / `false`, any case. */
export function parseBoolean(s: string): boolean | Invalid {
  if (s.length === 4 && s.toLowerCase() === 'true') return true;
  if (s.length === 5 && s.toLowerCase() === 'false') return false;
  return INVALID;
}

const DAY_MS = 86_400_000;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

function validDate(y: number, mo: number, d: number): boolean {
  if (mo < 1 || mo > 12 || d < 1) return false;
  const dim = [
    31,
    (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28,
    31,
    30,
    31,
    30,
    31,
    31,
    30,
    31,
    30,
    31,
  ];
  return d <= (dim[mo - 1] ?? 0);
}

/** `YYYY-MM-DD` (a real calendar day) → days since 1970-01-01. */
export function parseDate(s: string): number | Invalid {
  const m = DATE_RE.exec(s);
  if (!m) return INVALID;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  if (!validDate(y, mo, d)) return INVALID;
  return Date.UTC(y, mo - 1, d) / DAY_MS;
}

const DATETIME_RE =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})$/i;

/**
 * ISO 8601 date-time with an offset (`2021-07-25T02:13:17-07:00`, `…Z`, `…+0530`, fractions of a
 * second truncated to milliseconds) → milliseconds since the epoch, UTC. Without an offset the
 * instant is ambiguous: INVALID.
 */
export function parseTimestamp(s: string): number | Invalid {
  const m = DATETIME_RE.exec(s);
  if (!m) return INVALID;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const h = Number(m[4]);
  const mi = Number(m[5]);
  const sec = m[6] === undefined ? 0 : Number(m[6]);
  if (!validDate(y, mo, d) || h > 23 || mi > 59 || sec > 59) return INVALID;
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  const tz = m[8] ?? 'Z';
  let offsetMin = 0;
  if (tz !== 'Z' && tz !== 'z') {
    const sign = tz.charCodeAt(0) === 0x2d ? -1 : 1;
    const digits = tz.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = Number(digits.slice(2, 4));
    if (oh > 18 || om > 59) return INVALID;
    offsetMin = sign * (oh * 60 + om);
  }
  return Date.UTC(y, mo - 1, d, h, mi, sec, ms) - offsetMin * 60_000;
}

/**
 * A multi-select value: the options separated by `;`, kept byte for byte (no trimming), so joining
 * the list with `;` gives the CSV text back. Never INVALID.
 */
export function parseList(s: string): string[] {
  return s.split(';');
}
