// Field paths as decoders report problems (`trust.signers[0].name`), so that a JSON Schema
// gate and a hand-written decoder name the same field the same way.

// JSON pointer (`/trust/signers/0`, as ajv gives `instancePath`) to field path
// (`trust.signers[0]`). The schemas have no object property whose name is all digits, so
// digit segments are array indexes.
export function toFieldPath(pointer: string): string {
  if (pointer === '') return '';
  return pointer
    .slice(1)
    .split('/')
    .map((segment) => segment.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce((path, segment) => (/^\d+$/.test(segment) ? `${path}[${segment}]` : joinField(path, segment)), '');
}

// `path.segment`, or just `segment` at the top level.
export function joinField(path: string, segment: string): string {
  return path === '' ? segment : `${path}.${segment}`;
}
