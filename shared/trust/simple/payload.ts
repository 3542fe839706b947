// The payload of a simple signing signature, read only after its signature verified:
// `{"critical": {"identity": {"docker-reference"}, "image": {"docker-manifest-digest"},
// "type": "atomic container signature"}, "optional": {...}}`. Decoded as strictly as
// containers/image does: `critical` and each of its objects hold exactly their fields (an
// unknown critical field is one this verifier would not understand, so it refuses),
// `optional` is present and an object whose content is not interpreted.
import { ErrorCode, TrustgateError } from '../../errors.js';
import { isPlainObject, parseJsonBytes } from '../../json.js';

export const SIMPLE_SIGNATURE_TYPE = 'atomic container signature';

export interface SimplePayload {
  // As signed: a docker reference, usually tagged.
  readonly dockerReference: string;
  // As signed: 'sha256:<hex>' for the images this product verifies.
  readonly manifestDigest: string;
}

export function decodeSimplePayload(bytes: Uint8Array): SimplePayload {
  const document = parseJsonBytes(bytes, ErrorCode.SIMPLE_PAYLOAD_INVALID, 'signature payload');
  const top = exactObject(document, ['critical', 'optional'], 'the payload');
  const critical = exactObject(top['critical'], ['type', 'image', 'identity'], '"critical"');
  if (!isPlainObject(top['optional'])) throw invalid('"optional" is not an object');
  if (critical['type'] !== SIMPLE_SIGNATURE_TYPE) {
    throw invalid(`"critical.type" is ${describe(critical['type'])}: expected "${SIMPLE_SIGNATURE_TYPE}"`);
  }
  const image = exactObject(critical['image'], ['docker-manifest-digest'], '"critical.image"');
  const identity = exactObject(critical['identity'], ['docker-reference'], '"critical.identity"');
  const manifestDigest = image['docker-manifest-digest'];
  const dockerReference = identity['docker-reference'];
  if (typeof manifestDigest !== 'string') throw invalid('"critical.image.docker-manifest-digest" is not a string');
  if (typeof dockerReference !== 'string') throw invalid('"critical.identity.docker-reference" is not a string');
  return { dockerReference, manifestDigest };
}

function exactObject(value: unknown, fields: readonly string[], what: string): Readonly<Record<string, unknown>> {
  if (!isPlainObject(value)) throw invalid(`${what} is not an object`);
  const keys = Object.keys(value);
  const missing = fields.filter((field) => !keys.includes(field));
  const unknown = keys.filter((key) => !fields.includes(key));
  if (missing.length > 0 || unknown.length > 0) {
    const parts = [missing.length > 0 ? `lacks ${missing.join(', ')}` : '', unknown.length > 0 ? `has unknown field(s) ${unknown.slice(0, 5).map((key) => JSON.stringify(key.slice(0, 64))).join(', ')}` : ''];
    throw invalid(`${what} ${parts.filter((part) => part !== '').join(' and ')}`);
  }
  return value;
}

// A signed value quoted back, bounded.
function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.slice(0, 100)) : typeof value;
}

function invalid(what: string): TrustgateError {
  return new TrustgateError(ErrorCode.SIMPLE_PAYLOAD_INVALID, `signature payload: ${what}`);
}
