// One Sigstore bundle for one artifact, as Sigstore's client conformance protocol states it
// (`verify-bundle`): the bundle verifies for the key or the certificate identity against the
// trusted root (with its transparency-log entry, as every Sigstore client requires), and it
// is about this artifact: a message signature's digest is the artifact's SHA-256, a DSSE
// envelope's in-toto Statement v1 names the artifact's SHA-256 among its subjects.
// The artifact is its bytes or, where only its digest is known, `sha256:<hex>` (DSSE only:
// a message signature is checked over the bytes themselves).
import { createHash } from 'node:crypto';
import { ErrorCode, TrustgateError } from '../../errors.js';
import { isPlainObject, parseJsonBytes } from '../../json.js';
import type { TrustedRootJson } from '../sigstore/trusted-root-source.js';
import type { CosignAuthority } from '../verifier.js';
import { checkBundle, type BundleSigner } from './sigstore-check.js';
import { IN_TOTO_PAYLOAD_TYPE, STATEMENT_V1_TYPE } from './statement.js';

export type ArtifactInput = { readonly bytes: Uint8Array } | { readonly digest: string };

export function verifyArtifactBundle(bundle: unknown, artifact: ArtifactInput, authority: CosignAuthority, trustedRoot: TrustedRootJson, rootName: string): BundleSigner {
  const hex = 'bytes' in artifact ? createHash('sha256').update(artifact.bytes).digest('hex') : artifact.digest.slice('sha256:'.length);
  const envelope = isPlainObject(bundle) ? bundle['dsseEnvelope'] : undefined;
  const message = isPlainObject(bundle) ? bundle['messageSignature'] : undefined;
  if (isPlainObject(message)) {
    if (!('bytes' in artifact)) throw new TrustgateError(ErrorCode.COSIGN_BUNDLE_INVALID, 'a message-signature bundle is verified over the artifact itself, not its digest');
    const digest = isPlainObject(message['messageDigest']) ? message['messageDigest']['digest'] : undefined;
    if (typeof digest === 'string' && Buffer.from(digest, 'base64').toString('hex') !== hex) {
      throw new TrustgateError(ErrorCode.COSIGN_DIGEST_MISMATCH, 'the bundle\'s message digest is not the artifact\'s SHA-256');
    }
  }
  const signer = checkBundle({ bundle, ...('bytes' in artifact ? { artifact: artifact.bytes } : {}), authority, trustedRoot, rootName, tlog: 'required' });
  if (isPlainObject(envelope)) checkStatementSubject(envelope, hex);
  return signer;
}

// The envelope's statement (read after its signature verified) names the artifact.
function checkStatementSubject(envelope: Readonly<Record<string, unknown>>, hex: string): void {
  const { payloadType, payload } = envelope;
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE || typeof payload !== 'string') {
    throw new TrustgateError(ErrorCode.COSIGN_PAYLOAD_INVALID, `DSSE payload is not an in-toto statement (${IN_TOTO_PAYLOAD_TYPE})`);
  }
  const statement = parseJsonBytes(Buffer.from(payload, 'base64'), ErrorCode.COSIGN_PAYLOAD_INVALID, 'in-toto statement');
  if (!isPlainObject(statement) || statement['_type'] !== STATEMENT_V1_TYPE) {
    throw new TrustgateError(ErrorCode.COSIGN_PAYLOAD_INVALID, `DSSE payload is not an in-toto Statement v1 (${STATEMENT_V1_TYPE})`);
  }
  const subjects = statement['subject'];
  const named = Array.isArray(subjects) ? subjects.map((subject: unknown) => (isPlainObject(subject) && isPlainObject(subject['digest']) ? subject['digest']['sha256'] : undefined)) : [];
  if (!named.includes(hex)) throw new TrustgateError(ErrorCode.COSIGN_DIGEST_MISMATCH, `the statement's subjects do not name the artifact's SHA-256 ${hex}`);
}
