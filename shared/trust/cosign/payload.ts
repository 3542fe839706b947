// The cosign simple-signing payload (the layer blob a classic signature signs):
//   {"critical":{"identity":{"docker-reference":"REG/REPO"},
//                "image":{"docker-manifest-digest":"sha256:HEX"},
//                "type":"cosign container image signature"},
//    "optional":null | {...}}
// Only a payload of exactly this shape is accepted. `critical` is what the signer vouches
// for and what a verifier must understand, so an unknown member there is refused rather than
// ignored. As in cosign, the digest claim is what binds the signature to the image;
// `docker-reference` is not compared (an image copied between registries keeps its
// signatures). The claim is the defence against a signature copied from another image: the
// signature is valid, but for other bytes than the ones about to run.
import { ErrorCode, TrustgateError } from '../../errors.js';
import { isPlainObject, parseJsonBytes } from '../../json.js';

export const COSIGN_SIGNATURE_TYPE = 'cosign container image signature';

export interface SimpleSigningPayload {
  readonly dockerReference: string;
  readonly digest: string;
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

// Decodes the payload bytes and checks that they vouch for `digest`.
export function checkPayload(bytes: Uint8Array, digest: string): SimpleSigningPayload {
  const document = parseJsonBytes(bytes, ErrorCode.COSIGN_PAYLOAD_INVALID, 'signature payload');
  const critical = isPlainObject(document) ? document['critical'] : undefined;
  if (!isPlainObject(document) || !isPlainObject(critical)) throw invalid('expected an object with "critical"');
  onlyKeys(document, ['critical', 'optional'], 'the payload');
  const optional = document['optional'];
  if (optional !== undefined && optional !== null && !isPlainObject(optional)) throw invalid('expected "optional" to be null or an object');
  onlyKeys(critical, ['identity', 'image', 'type'], '"critical"');
  const { identity, image, type } = critical;
  if (type !== COSIGN_SIGNATURE_TYPE) throw invalid(`expected critical.type "${COSIGN_SIGNATURE_TYPE}", got ${describe(type)}`);
  if (!isPlainObject(identity) || typeof identity['docker-reference'] !== 'string') {
    throw invalid('expected critical.identity with a "docker-reference" string');
  }
  onlyKeys(identity, ['docker-reference'], 'critical.identity');
  if (!isPlainObject(image) || typeof image['docker-manifest-digest'] !== 'string') {
    throw invalid('expected critical.image with a "docker-manifest-digest" string');
  }
  onlyKeys(image, ['docker-manifest-digest'], 'critical.image');
  const claimed = image['docker-manifest-digest'];
  if (!DIGEST_RE.test(claimed)) throw invalid(`expected critical.image.docker-manifest-digest to be sha256:<hex>, got ${describe(claimed)}`);
  if (claimed !== digest) {
    throw new TrustgateError(ErrorCode.COSIGN_DIGEST_MISMATCH, `signature payload is for image ${claimed}, not ${digest}`);
  }
  return { dockerReference: identity['docker-reference'], digest: claimed };
}

function onlyKeys(object: Readonly<Record<string, unknown>>, allowed: readonly string[], where: string): void {
  const extra = Object.keys(object).find((key) => !allowed.includes(key));
  if (extra !== undefined) throw invalid(`${where} has unknown member ${describe(extra)}`);
}

// A short, quoted rendering of a hostile value for a message.
function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 80));
  return value === null ? 'null' : typeof value;
}

function invalid(message: string): TrustgateError {
  return new TrustgateError(ErrorCode.COSIGN_PAYLOAD_INVALID, `signature payload is not a cosign simple-signing payload: ${message}`);
}
