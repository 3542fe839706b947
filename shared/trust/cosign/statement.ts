// The DSSE payload of a cosign v3 signature bundle: an in-toto Statement v1
//   {"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":HEX},...}],
//    "predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{...}}
// Only that predicate type is a signature; any other (SLSA provenance, SBOM, vulnerability
// scan) is an attestation about the image, which says nothing about whether its publisher
// meant it to run, so it never counts as a signature. The subject digest binds the bundle to
// the image, as the payload's digest claim does for a classic signature. Read only after the
// envelope's signature verified.
import { ErrorCode, TrustgateError } from '../../errors.js';
import { isPlainObject, parseJsonBytes } from '../../json.js';

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const STATEMENT_V1_TYPE = 'https://in-toto.io/Statement/v1';
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';

// Checks the DSSE envelope of a verified bundle vouches for `digest` as a cosign signature.
export function checkSignatureEnvelope(bundle: unknown, digest: string): void {
  const envelope = isPlainObject(bundle) ? bundle['dsseEnvelope'] : undefined;
  if (!isPlainObject(envelope)) throw invalid('the bundle has no DSSE envelope (a message signature is not a cosign v3 image signature)');
  const { payloadType, payload } = envelope;
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE || typeof payload !== 'string') throw invalid(`expected an in-toto payload (${IN_TOTO_PAYLOAD_TYPE})`);
  const statement = parseJsonBytes(Buffer.from(payload, 'base64'), ErrorCode.COSIGN_PAYLOAD_INVALID, 'in-toto statement');
  if (!isPlainObject(statement) || statement['_type'] !== STATEMENT_V1_TYPE) throw invalid(`expected an in-toto Statement (${STATEMENT_V1_TYPE})`);
  const predicateType = statement['predicateType'];
  if (predicateType !== COSIGN_SIGN_PREDICATE) {
    throw new TrustgateError(
      ErrorCode.COSIGN_PAYLOAD_INVALID,
      `is an attestation (predicateType ${JSON.stringify(String(predicateType).slice(0, 120))}), not a signature (${COSIGN_SIGN_PREDICATE}): skipped`,
    );
  }
  const subjects = statement['subject'];
  if (!Array.isArray(subjects) || subjects.length === 0) throw invalid('the statement has no subject');
  const hex = digest.slice('sha256:'.length);
  const named = subjects.map((subject: unknown) => (isPlainObject(subject) && isPlainObject(subject['digest']) ? subject['digest']['sha256'] : undefined));
  if (!named.includes(hex)) {
    const first = typeof named[0] === 'string' ? `sha256:${named[0].slice(0, 64)}` : 'no sha256 digest';
    throw new TrustgateError(ErrorCode.COSIGN_DIGEST_MISMATCH, `signature statement is for ${first}, not ${digest}`);
  }
}

function invalid(message: string): TrustgateError {
  return new TrustgateError(ErrorCode.COSIGN_PAYLOAD_INVALID, `not a cosign signature statement: ${message}`);
}
