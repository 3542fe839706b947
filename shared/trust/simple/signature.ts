// One simple signing signature checked against one keyring: the packets are bounded and
// unwrapped (packets.ts), the OpenPGP signature is verified with a key of the ring, and the
// signed payload's bytes are returned only then, so unauthenticated JSON is never read.
// A key that is expired or revoked now is refused even when it was valid when it signed
// (as gpg reports KEYEXPIRED/REVOKEDKEY and containers/image refuses the signature): a
// revocation must take effect for images signed before it.
import { ErrorCode, TrustgateError } from '../../errors.js';
import { loadOpenPgp, type Keyring } from './keyring.js';
import { DEFAULT_PACKET_LIMITS, unwrapSignedMessage, type PacketLimits } from './packets.js';

export interface VerifiedSignature {
  // The literal data: the signed JSON payload.
  readonly payload: Uint8Array;
  // Upper-case hex fingerprint of the primary key whose (sub)key made the signature.
  readonly fingerprint: string;
}

// The payload and signer of `bytes` when a key of `keyring` made a valid signature over it
// that is valid at `now`; else SIMPLE_SIGNATURE_INVALID with the reason.
export async function verifySimpleSignature(bytes: Uint8Array, keyring: Keyring, now: Date, limits: PacketLimits = DEFAULT_PACKET_LIMITS): Promise<VerifiedSignature> {
  const packets = unwrapSignedMessage(bytes, limits);
  const pgp = await loadOpenPgp();
  let message;
  try {
    message = await pgp.readMessage({ binaryMessage: packets });
  } catch (error) {
    throw invalid(`is not an OpenPGP message: ${errorText(error)}`, error);
  }
  let result;
  try {
    result = await pgp.verify({ message, verificationKeys: [...keyring.keys], format: 'binary', date: now });
  } catch (error) {
    throw invalid(`cannot be verified: ${errorText(error)}`, error);
  }
  const reasons: string[] = [];
  for (const signature of result.signatures) {
    const keyId = signature.keyID.toHex().toUpperCase();
    try {
      await signature.verified;
    } catch (error) {
      reasons.push(`key ${keyId}: ${errorText(error)}`);
      continue;
    }
    const key = keyring.keys.find((candidate) => candidate.getKeys(signature.keyID).length > 0);
    if (key === undefined) {
      reasons.push(`key ${keyId} is not in keyring ${keyring.source}`);
      continue;
    }
    try {
      // Throws when the key (or its primary key) is expired or revoked at `now`.
      await key.getSigningKey(signature.keyID, now);
    } catch (error) {
      reasons.push(`key ${keyId} cannot sign now: ${errorText(error)}`);
      continue;
    }
    const payload: unknown = result.data;
    if (!(payload instanceof Uint8Array)) throw invalid('has no binary literal data');
    return { payload, fingerprint: key.getFingerprint().toUpperCase() };
  }
  throw invalid(`was not made by a valid key of keyring ${keyring.source}${reasons.length === 0 ? '' : ` (${reasons.join('; ')})`}`);
}

// The OpenPGP library's message, on one line and bounded (it quotes no secret: keyrings
// here are public keys).
function errorText(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s+/g, ' ').slice(0, 200);
}

function invalid(what: string, cause?: unknown): TrustgateError {
  return new TrustgateError(ErrorCode.SIMPLE_SIGNATURE_INVALID, `signature ${what}`, cause === undefined ? {} : { cause });
}
