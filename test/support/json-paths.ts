// Reading and editing parsed JSON (or YAML) documents by path, for tests that look deep into
// a document or build malformed variants of a real one. A path names the nested property
// step by step (array indexes as numbers), so a test reads as what it checks or changes
// while every value stays `unknown` to the type checker.
export type JsonObject = Record<string, unknown>;
export type JsonPath = readonly (string | number)[];

// The value at `path`, or undefined where the document holds nothing there (the test's
// expectation then fails on it).
export function valueAt(doc: JsonObject, path: JsonPath): unknown {
  let node: unknown = doc;
  for (const step of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as JsonObject)[String(step)];
  }
  return node;
}

// The object or array at `path`. A path the document does not hold is a broken test, so it
// throws instead of quietly reading or editing nothing.
export function objectAt(doc: JsonObject, path: JsonPath): JsonObject {
  const node = valueAt(doc, path);
  if (typeof node !== 'object' || node === null) throw new Error(`expected an object at ${path.join('.')}, got ${typeof node}`);
  return node as JsonObject;
}

// Sets the value at `path`, creating nothing on the way: every parent must exist.
export function setAt(doc: JsonObject, path: JsonPath, value: unknown): void {
  const [parent, key] = splitPath(path);
  objectAt(doc, parent)[key] = value;
}

// Removes the property at `path`.
export function removeAt(doc: JsonObject, path: JsonPath): void {
  const [parent, key] = splitPath(path);
  delete objectAt(doc, parent)[key];
}

function splitPath(path: JsonPath): [JsonPath, string] {
  const last = path.at(-1);
  if (last === undefined) throw new Error('expected a path with at least one step, got none');
  return [path.slice(0, -1), String(last)];
}
