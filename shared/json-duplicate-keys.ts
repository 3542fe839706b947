// Duplicate keys in a JSON text. JSON.parse keeps the last of two members with the same name
// and says nothing, so `{"trust":{"enabled":true},"trust":{"enabled":false}}` would quietly
// mean "trust disabled" to trustgate while a reviewer (or another tool that keeps the first)
// reads "trust enabled". Callers that must not guess refuse such a document instead, as YAML
// documents with duplicate keys are refused.

import { jsonStringAt } from './json-string.js';

export interface DuplicateJsonKey {
  // The repeated key, decoded ("tr\u0075st" is "trust").
  readonly key: string;
  // Where the object holding it is, as problems name fields: 'spec.repositories[0].policy';
  // '' for the top-level object.
  readonly path: string;
}

interface Frame {
  // Keys seen so far in an object; undefined for an array.
  readonly keys: Set<string> | undefined;
  // The member or element being read: its key in an object, its index in an array.
  key: string;
  index: number;
  // In an object, whether the next string is a key (after '{' or ',').
  expectKey: boolean;
}

const FIELD_NAME = /^[A-Za-z0-9_./-]+$/;

// The first duplicate key of `text`, which JSON.parse must already have accepted (so its syntax
// is not re-checked here), or undefined when every object's keys are distinct. One pass over
// the text with an explicit stack: the cost is linear in the text's length whatever its
// nesting, and the keys kept are those of the objects open at the time, never more than the
// text holds. Keys are compared decoded, so an escaped spelling of a key is the same key.
export function findDuplicateJsonKey(text: string): DuplicateJsonKey | undefined {
  const stack: Frame[] = [];
  let at = 0;
  while (at < text.length) {
    const char = text[at];
    const top = stack[stack.length - 1];
    if (char === '"') {
      const { value: key, end } = jsonStringAt(text, at);
      if (top?.keys !== undefined && top.expectKey) {
        if (top.keys.has(key)) return { key, path: pathOf(stack.slice(0, -1)) };
        top.keys.add(key);
        top.key = key;
        top.expectKey = false;
      }
      at = end + 1;
      continue;
    }
    if (char === '{') stack.push({ keys: new Set(), key: '', index: 0, expectKey: true });
    else if (char === '[') stack.push({ keys: undefined, key: '', index: 0, expectKey: false });
    else if (char === '}' || char === ']') stack.pop();
    else if (char === ',' && top !== undefined) {
      if (top.keys === undefined) top.index += 1;
      else top.expectKey = true;
    }
    at += 1;
  }
  return undefined;
}

// The field path of the innermost open frame: keys joined by '.', indices as '[n]'. A key that
// is not a plain field name is quoted, so no key can forge another path or a line break in
// a message.
function pathOf(frames: readonly Frame[]): string {
  let path = '';
  for (const frame of frames) {
    if (frame.keys === undefined) path += `[${frame.index}]`;
    else if (FIELD_NAME.test(frame.key)) path += path === '' ? frame.key : `.${frame.key}`;
    else path += `[${JSON.stringify(frame.key)}]`;
  }
  return path;
}
