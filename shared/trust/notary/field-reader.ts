// Field-by-field reading of untrusted JSON that records every problem with its path
// instead of stopping at the first, so one error can list all of them.
import type { FieldProblem } from '../../errors.js';
import { isPlainObject } from '../../json.js';
import { decodeBase64 } from './base64.js';

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

export class FieldReader {
  readonly problems: FieldProblem[] = [];

  report(path: string, message: string): void {
    this.problems.push({ path, message });
  }

  object(value: unknown, path: string): Record<string, unknown> | undefined {
    if (isPlainObject(value)) return value;
    this.report(path, `expected an object, got ${describeValue(value)}`);
    return undefined;
  }

  array(value: unknown, path: string): readonly unknown[] | undefined {
    if (isArray(value)) return value;
    this.report(path, `expected an array, got ${describeValue(value)}`);
    return undefined;
  }

  string(value: unknown, path: string): string | undefined {
    if (typeof value === 'string') return value;
    this.report(path, `expected a string, got ${describeValue(value)}`);
    return undefined;
  }

  boolean(value: unknown, path: string): boolean | undefined {
    if (typeof value === 'boolean') return value;
    this.report(path, `expected a boolean, got ${describeValue(value)}`);
    return undefined;
  }

  integer(value: unknown, path: string, minimum: number): number | undefined {
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= minimum) return value;
    const what = minimum === 1 ? 'a positive integer' : minimum === 0 ? 'a non-negative integer' : `an integer >= ${minimum}`;
    this.report(path, `expected ${what}, got ${describeValue(value)}`);
    return undefined;
  }

  base64(value: unknown, path: string): Uint8Array | undefined {
    const text = this.string(value, path);
    if (text === undefined) return undefined;
    const bytes = decodeBase64(text);
    if (!bytes) this.report(path, `expected standard padded base64, got ${describeValue(text)}`);
    return bytes;
  }

  stringArray(value: unknown, path: string): string[] | undefined {
    const items = this.array(value, path);
    if (!items) return undefined;
    const strings: string[] = [];
    items.forEach((item, index) => {
      const text = this.string(item, `${path}[${index}]`);
      if (text !== undefined) strings.push(text);
    });
    return strings.length === items.length ? strings : undefined;
  }

  // RFC 3339 date-time as Go writes time.Time (nanosecond fractions allowed, kept to the
  // millisecond). Every component is range-checked: Date.parse would roll "02-30" into March.
  dateTime(value: unknown, path: string): Date | undefined {
    const text = this.string(value, path);
    if (text === undefined) return undefined;
    const date = parseRfc3339(text);
    if (!date) this.report(path, `expected an RFC 3339 date-time, got ${describeValue(text)}`);
    return date;
  }
}

// Array.isArray narrows `unknown` to `any[]`; this keeps the elements `unknown` so every one
// is decoded before use.
function isArray(value: unknown): value is readonly unknown[] {
  return Array.isArray(value);
}

function parseRfc3339(text: string): Date | undefined {
  const match = RFC3339.exec(text);
  if (!match) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const fraction = match[7] ?? '';
  const zone = match[8] ?? 'Z';
  const millis = fraction === '' ? 0 : Number(fraction.slice(1, 4).padEnd(3, '0'));
  const local = new Date(Date.UTC(year, month - 1, day, hour, minute, second, millis));
  local.setUTCFullYear(year);
  const valid =
    local.getUTCFullYear() === year &&
    local.getUTCMonth() === month - 1 &&
    local.getUTCDate() === day &&
    local.getUTCHours() === hour &&
    local.getUTCMinutes() === minute &&
    local.getUTCSeconds() === second;
  if (!valid) return undefined;
  let offsetMinutes = 0;
  if (zone !== 'Z' && zone !== 'z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const zoneHours = Number(zone.slice(1, 3));
    const zoneMinutes = Number(zone.slice(4, 6));
    if (zoneHours > 23 || zoneMinutes > 59) return undefined;
    offsetMinutes = sign * (zoneHours * 60 + zoneMinutes);
  }
  return new Date(local.getTime() - offsetMinutes * 60_000);
}

// How a bad value is named in messages: by its type only. The document may be anything a
// server answered (an internal page reached through a hostile trust server URL), so no
// byte of its content reaches a message, a denial's reasons or a log line.
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return `a string of ${value.length} characters`;
    case 'number':
      return Number.isInteger(value) ? 'an integer' : 'a fractional number';
    case 'boolean':
      return 'a boolean';
    default:
      return 'an object';
  }
}

// A member name of the document for a field path: shown only when it has the shape the
// field's names must have (a key ID, a role or file name); any other name is shown by its
// position, so a path never carries content the server chose freely.
export function describeKey(key: string, index: number, shape: RegExp): string {
  return shape.test(key) ? `["${key}"]` : `[#${index}]`;
}
