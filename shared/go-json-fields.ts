// Which members of a JSON object Go's encoding/json assigns to a struct field, for documents
// written for Go readers (a pull secret the kubelet and the Docker client decode). Go matches
// a member's key to a field's name exactly, or else case-insensitively under Unicode simple
// case folding (bytes.EqualFold, or foldName since Go 1.21: the same relation), and assigns
// every matching member in document order, so the last one wins. Reading only the exact
// spelling would refuse or ignore a document that works for the kubelet (`"Auth"`,
// `"Username"`, `"Auths"`).
import type { JsonInOrder, JsonMembers } from './json-in-order.js';

// Under simple case folding an ASCII letter is equal to its other case and to nothing else,
// except `k`, also equal to the Kelvin sign U+212A, and `s`, also equal to the long s U+017F
// (Unicode's CaseFolding.txt; checked against Go's decoder over every code point).
const ALSO_FOLDS_TO = new Map<string, string>([
  ['\u212a', 'k'],
  ['\u017f', 's'],
]);

// Whether Go assigns a member keyed `key` to a field named `name`. `name` must be lowercase
// ASCII letters (the field names read here), for which this is exactly Go's relation: `key`
// has as many code points, each equal to the letter at its place under simple folding.
export function isGoFieldKey(key: string, name: string): boolean {
  if (key === name) return true;
  const points = Array.from(key);
  if (points.length !== name.length) return false;
  return points.every((point, index) => {
    const letter = name[index];
    return point.charCodeAt(0) < 0x80 ? point.toLowerCase() === letter : ALSO_FOLDS_TO.get(point) === letter;
  });
}

// The values Go assigns to the field `name`, in document order (the last one is what Go keeps).
export function goFieldValues(object: JsonMembers, name: string): JsonInOrder[] {
  return object.members.filter(([key]) => isGoFieldKey(key, name)).map(([, value]) => value);
}
