// A JSON text read member by member, as a decoder that assigns each member in turn (Go's
// encoding/json, which the kubelet and the Docker client use) reads it. JSON.parse keeps only
// the last of two members with the same name, at the place of the first, so it cannot say
// which of `"auth"` and `"Auth"` comes last in a document; this reader keeps every member, in
// document order, repeats included.
import { ErrorCode, type ErrorCode as Code } from './errors.js';
import { parseJsonSafely } from './json.js';
import { jsonStringAt } from './json-string.js';

// An object's members in document order, repeats kept. A list of pairs, not a record: every
// key is data (`__proto__` included) and no lookup can reach a prototype.
export class JsonMembers {
  constructor(readonly members: readonly (readonly [key: string, value: JsonInOrder])[]) {}
}

export type JsonInOrder = null | boolean | number | string | readonly JsonInOrder[] | JsonMembers;

interface Cursor {
  readonly text: string;
  at: number;
}

// Parses `text` keeping every object member in document order. The text is first parsed by
// parseJsonSafely, which checks its syntax and refuses (with `code`) nesting deeper than
// MAX_JSON_DEPTH; the walk below therefore reads well-formed JSON only, and its recursion is
// bounded by that depth. Cost: two linear passes over the text.
export function parseJsonInOrder(text: string, code: Code = ErrorCode.REQUEST_INVALID, what = 'document'): JsonInOrder {
  parseJsonSafely(text, code, what);
  return readValue({ text, at: 0 });
}

// The value starting at the cursor (after any whitespace); leaves the cursor after it.
function readValue(cursor: Cursor): JsonInOrder {
  skipWhitespace(cursor);
  const char = cursor.text[cursor.at];
  if (char === '{') return readObject(cursor);
  if (char === '[') return readArray(cursor);
  if (char === '"') return readString(cursor);
  const start = cursor.at;
  while (cursor.at < cursor.text.length && !',]} \t\n\r'.includes(cursor.text[cursor.at] as string)) cursor.at += 1;
  // A number, true, false or null: JSON.parse gives it the value JSON.parse gives everywhere.
  return JSON.parse(cursor.text.slice(start, cursor.at)) as JsonInOrder;
}

// An object: `{`, members separated by `,`, `}`.
function readObject(cursor: Cursor): JsonMembers {
  const members: (readonly [string, JsonInOrder])[] = [];
  cursor.at += 1;
  skipWhitespace(cursor);
  if (cursor.text[cursor.at] === '}') {
    cursor.at += 1;
    return new JsonMembers(members);
  }
  for (;;) {
    skipWhitespace(cursor);
    const key = readString(cursor);
    skipWhitespace(cursor);
    cursor.at += 1; // ':'
    members.push([key, readValue(cursor)]);
    skipWhitespace(cursor);
    const next = cursor.text[cursor.at];
    cursor.at += 1; // ',' or '}'
    if (next === '}') return new JsonMembers(members);
  }
}

// An array: `[`, values separated by `,`, `]`.
function readArray(cursor: Cursor): JsonInOrder[] {
  const items: JsonInOrder[] = [];
  cursor.at += 1;
  skipWhitespace(cursor);
  if (cursor.text[cursor.at] === ']') {
    cursor.at += 1;
    return items;
  }
  for (;;) {
    items.push(readValue(cursor));
    skipWhitespace(cursor);
    const next = cursor.text[cursor.at];
    cursor.at += 1; // ',' or ']'
    if (next === ']') return items;
  }
}

// A string, decoded; leaves the cursor after its closing '"'.
function readString(cursor: Cursor): string {
  const { value, end } = jsonStringAt(cursor.text, cursor.at);
  cursor.at = end + 1;
  return value;
}

function skipWhitespace(cursor: Cursor): void {
  while (cursor.at < cursor.text.length && ' \t\n\r'.includes(cursor.text[cursor.at] as string)) cursor.at += 1;
}
