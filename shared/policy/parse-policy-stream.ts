import { parseAllDocuments } from 'yaml';
import { ErrorCode, isTrustgateError, type FieldProblem } from '../errors.js';
import { adoptUntrustedValue, parseJsonSafely } from '../json.js';
import { findDuplicateJsonKey } from '../json-duplicate-keys.js';
import { ProblemScope } from './problem-scope.js';

export interface PolicyFile {
  // A name for messages (usually the file name); never interpreted as a path.
  readonly source: string;
  readonly text: string;
}

export interface RawDocument {
  readonly scope: ProblemScope;
  readonly value: unknown;
}

// Split one policy file into its documents. `.json` files are one JSON document; anything else
// is a YAML stream (`---`-separated). Empty documents are skipped but still counted, so
// document numbers in problems match the position in the file. Documents are yielded lazily so
// that syntax problems and field problems are reported in document order.
export function* parsePolicyStream(file: PolicyFile, problems: FieldProblem[]): Generator<RawDocument> {
  if (file.source.toLowerCase().endsWith('.json')) yield* parseJsonFile(file, problems);
  else yield* parseYamlStream(file, problems);
}

// A .json file is a single document, parsed with the prototype-safe JSON parser.
// Security: an object holding a key twice is refused, as YAML's uniqueKeys refuses it below.
// JSON.parse would silently keep the last member, so `"trust": {"enabled": true}` followed
// by `"trust": {"enabled": false}` would read as trust required to whoever reviews the file
// and mean trust disabled to trustgate.
function parseJsonFile(file: PolicyFile, problems: FieldProblem[]): RawDocument[] {
  const scope = ProblemScope.forDocument(file.source, 1, problems);
  let value: unknown;
  try {
    value = parseJsonSafely(file.text, ErrorCode.POLICY_INVALID, file.source);
  } catch (error) {
    if (!isTrustgateError(error)) throw error;
    scope.add('', error.message);
    return [];
  }
  const duplicate = findDuplicateJsonKey(file.text);
  if (duplicate !== undefined) {
    scope.add(duplicate.path, `holds the key ${JSON.stringify(duplicate.key)} more than once (duplicate keys are refused: which one would count is a guess)`);
    return [];
  }
  return value === null ? [] : [{ scope, value }];
}

// YAML streams: syntax errors, duplicate keys, excessive alias expansion and excessive
// nesting are problems of their document. Every key is data: the yaml package defines a
// `__proto__` key as an own property (never the prototype), and adoptUntrustedValue then
// gives every object a null prototype, as parseJsonSafely does for JSON.
function* parseYamlStream(file: PolicyFile, problems: FieldProblem[]): Generator<RawDocument> {
  let parsed: ReturnType<typeof parseAllDocuments>;
  try {
    parsed = parseAllDocuments(file.text, { prettyErrors: true, uniqueKeys: true });
  } catch (error) {
    ProblemScope.forSource(file.source, problems).add('', `not a YAML stream: ${firstLine(error)}`);
    return;
  }
  // A stream holding only comments or nothing parses to a single "empty stream" marker.
  if (!Array.isArray(parsed)) return;
  for (const [index, document] of parsed.entries()) {
    const scope = ProblemScope.forDocument(file.source, index + 1, problems);
    if (document.errors.length > 0) {
      for (const error of document.errors) scope.add('', `not valid YAML: ${firstLine(error)}`);
      continue;
    }
    let value: unknown;
    try {
      // maxAliasCount bounds alias expansion ("billion laughs").
      value = adoptUntrustedValue(document.toJS({ maxAliasCount: 100 }), ErrorCode.POLICY_INVALID, 'document');
    } catch (error) {
      scope.add('', isTrustgateError(error) ? error.message : `not valid YAML: ${firstLine(error)}`);
      continue;
    }
    if (value === null || value === undefined) continue;
    yield { scope, value };
  }
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return (message.split('\n', 1)[0] ?? message).replace(/:$/, '');
}
