import { ErrorCode, TrustgateError, type ErrorCode as Code } from './errors.js';

// Far deeper than any document trustgate reads (a pod spec, Notary metadata, a policy),
// shallow enough that every later walk over the value (canonical JSON, logging, schema
// checks) stays far from the call stack's limit.
export const MAX_JSON_DEPTH = 512;

// Parse JSON from an untrusted source. Every key is data: `__proto__`, `constructor`,
// `prototype` are valid keys (a Kubernetes label, a Docker tag) and are kept as such.
// Security, by construction rather than by refusing names: JSON.parse defines every member
// as an own data property (a `__proto__` member never sets the prototype), and every object
// of the result is then given a null prototype, so a lookup of a key the document does not
// hold finds nothing (not Object.prototype.constructor) and an assignment `copy[key] = v`
// into such an object can never reach a prototype. JSON.parse itself does not recurse on
// the call stack; a value nested deeper than MAX_JSON_DEPTH is refused with `code` before
// any recursive consumer sees it.
export function parseJsonSafely(text: string, code: Code = ErrorCode.REQUEST_INVALID, what = 'document'): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new TrustgateError(code, `${what} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  return adoptUntrustedValue(value, code, what);
}

// Decoding without `stream` keeps no state between calls, so one decoder serves them all.
const UTF8 = new TextDecoder('utf-8', { fatal: true });

export function parseJsonBytes(bytes: Uint8Array, code: Code = ErrorCode.REQUEST_INVALID, what = 'document'): unknown {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch (error) {
    throw new TrustgateError(code, `${what} is not UTF-8`, { cause: error });
  }
  return parseJsonSafely(text, code, what);
}

// Makes a value parsed by someone else (a YAML document, OpenWhisk's params) as safe as
// parseJsonSafely's: every plain object gets a null prototype, and nesting deeper than
// MAX_JSON_DEPTH is refused with `code`. Iterative with an explicit stack, so a hostile depth
// cannot overflow the call stack; each object is visited once (a YAML alias shared by two
// parents is already converted the second time), so the cost is linear in the value's size.
// Every admission review passes through here, so the walk allocates nothing per node: the
// stack is two parallel arrays, and an object's members are read by a for-in loop once its
// prototype is null (so only its own members are listed).
export function adoptUntrustedValue(value: unknown, code: Code = ErrorCode.REQUEST_INVALID, what = 'document'): unknown {
  const items: object[] = [];
  const depths: number[] = [];
  const push = (child: unknown, depth: number): void => {
    if (typeof child === 'object' && child !== null) {
      items.push(child);
      depths.push(depth);
    }
  };
  push(value, 0);
  while (items.length > 0) {
    const item = items.pop() as object;
    const depth = depths.pop() as number;
    if (depth >= MAX_JSON_DEPTH) throw new TrustgateError(code, `${what} nests deeper than ${MAX_JSON_DEPTH} levels`);
    if (Array.isArray(item)) {
      for (let index = 0; index < item.length; index += 1) push(item[index], depth + 1);
      continue;
    }
    if (Object.getPrototypeOf(item) === null) continue;
    Object.setPrototypeOf(item, null);
    const members = item as Record<string, unknown>;
    for (const key in members) push(members[key], depth + 1);
  }
  return value;
}

// Parse JSON from an untrusted source for a reader that takes members only with
// `ownMember` (the AdmissionReview decoder, once per admission request), checked in place
// rather than adopted: the depth bound of parseJsonBytes holds, but the objects keep
// Object.prototype, which saves giving every object of a large review a null prototype (a
// prototype change per object, and slower reads of each afterwards).
// Security: every key is still data. JSON.parse defines every member as an own data
// property (a `__proto__` member never sets the prototype), and ownMember finds only
// those, so a key the document does not hold reads as undefined, never as an inherited
// `constructor` or `toString`. The value must not be handed to code that reads members
// with `value[key]` or copies them into other objects: use parseJsonBytes there.
export function parseJsonBytesInPlace(bytes: Uint8Array, code: Code = ErrorCode.REQUEST_INVALID, what = 'document'): unknown {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch (error) {
    throw new TrustgateError(code, `${what} is not UTF-8`, { cause: error });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new TrustgateError(code, `${what} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  assertJsonDepth(value, code, what);
  return value;
}

// The member `key` of a parsed JSON object if the document holds it, undefined otherwise:
// an own property only, so no name (`constructor`, `__proto__`, `toString`) ever reaches
// Object.prototype.
export function ownMember(object: Readonly<Record<string, unknown>>, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

// Refuses a value parsed by JSON.parse that nests deeper than MAX_JSON_DEPTH, like
// adoptUntrustedValue but changing nothing. Iterative, allocating nothing per node (a
// for-in loop rather than Object.keys); own members only, whatever Object.prototype holds.
function assertJsonDepth(value: unknown, code: Code, what: string): void {
  const items: object[] = [];
  const depths: number[] = [];
  if (typeof value === 'object' && value !== null) {
    items.push(value);
    depths.push(0);
  }
  while (items.length > 0) {
    const item = items.pop() as object;
    const depth = depths.pop() as number;
    if (depth >= MAX_JSON_DEPTH) throw new TrustgateError(code, `${what} nests deeper than ${MAX_JSON_DEPTH} levels`);
    if (Array.isArray(item)) {
      for (let index = 0; index < item.length; index += 1) {
        const child: unknown = item[index];
        if (typeof child === 'object' && child !== null) {
          items.push(child);
          depths.push(depth + 1);
        }
      }
      continue;
    }
    const members = item as Record<string, unknown>;
    for (const key in members) {
      if (!Object.hasOwn(members, key)) continue;
      const child = members[key];
      if (typeof child === 'object' && child !== null) {
        items.push(child);
        depths.push(depth + 1);
      }
    }
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
