// A classic cosign signature layer as a Sigstore v0.1 message-signature bundle, so the one
// sigstore-js verifier checks both formats. The layer's parts map one to one:
//   payload blob                          -> the artifact (its SHA-256 is the message digest)
//   dev.cosignproject.cosign/signature    -> messageSignature.signature
//   dev.sigstore.cosign/certificate+chain -> verificationMaterial.x509CertificateChain
//   dev.sigstore.cosign/bundle            -> one tlog entry with its inclusion promise (SET)
//   dev.sigstore.cosign/rfc3161timestamp  -> verificationMaterial.timestampVerificationData
//                                            (an RFC 3161 timestamp over the signature bytes)
// A key authority gets a publicKey hint instead of the certificate: with a key, cosign checks
// the signature with the key alone. Nothing here is trusted: the result is checked by
// sigstore-js, and anything that does not even have the expected shape is a reason.
import { createHash } from 'node:crypto';
import { ErrorCode, TrustgateError } from '../../errors.js';
import { isPlainObject, parseJsonBytes } from '../../json.js';
import type { TlogMode } from '../verifier.js';

export const BUNDLE_V01_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle+json;version=0.1';

export interface ClassicSignature {
  readonly payload: Uint8Array;
  // Base64 DER signature (the layer annotation, as found).
  readonly signature: string;
  readonly certificate?: string;
  readonly chain?: string;
  // The legacy Rekor bundle annotation (JSON text).
  readonly rekorBundle?: string;
  // The RFC 3161 timestamp annotation (JSON text).
  readonly rfc3161Timestamp?: string;
}

// Whether a signature is checked against the transparency log: always for keyless
// authorities, for keys only when the policy requires it.
export function usesTransparencyLog(keyed: boolean, tlog: TlogMode): boolean {
  return keyed ? tlog === 'required' : true;
}

// The v0.1 bundle for `signature`, for a key (`keyed`) or a certificate authority; the Rekor
// bundle and timestamp annotations are read only when the log is looked at (`withLog`): a
// key signature checked without the log is checked without its times too, as before.
export function classicToBundle(signature: ClassicSignature, keyed: boolean, withLog: boolean): Readonly<Record<string, unknown>> {
  const digest = createHash('sha256').update(signature.payload).digest('base64');
  const material = keyed
    ? { publicKey: { hint: 'authority' } }
    : { x509CertificateChain: { certificates: certificatesOf(signature).map((der) => ({ rawBytes: der })) } };
  const tlogEntries = signature.rekorBundle === undefined || !withLog ? [] : [tlogEntryOf(signature.rekorBundle)];
  const rfc3161Timestamps = signature.rfc3161Timestamp === undefined || !withLog ? [] : [{ signedTimestamp: timestampOf(signature.rfc3161Timestamp) }];
  return {
    mediaType: BUNDLE_V01_MEDIA_TYPE,
    verificationMaterial: { ...material, tlogEntries, timestampVerificationData: { rfc3161Timestamps } },
    messageSignature: { messageDigest: { algorithm: 'SHA2_256', digest }, signature: signature.signature.replace(/\s+/g, '') },
  };
}

// The leaf then the chain, each PEM block as base64 DER.
function certificatesOf(signature: ClassicSignature): readonly string[] {
  if (signature.certificate === undefined) {
    throw new TrustgateError(ErrorCode.COSIGN_CERTIFICATE_INVALID, 'has no certificate annotation (not a keyless signature)');
  }
  const leaf = pemBlocks(signature.certificate);
  if (leaf.length !== 1) throw new TrustgateError(ErrorCode.COSIGN_CERTIFICATE_INVALID, 'certificate annotation is not one PEM certificate');
  return [...leaf, ...(signature.chain === undefined ? [] : pemBlocks(signature.chain))];
}

const PEM_RE = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/g;
const MAX_CHAIN = 10;

function pemBlocks(text: string): readonly string[] {
  const blocks = [...text.matchAll(PEM_RE)].map((match) => (match[1] ?? '').replace(/\s+/g, ''));
  if (blocks.length > MAX_CHAIN) throw new TrustgateError(ErrorCode.COSIGN_CERTIFICATE_INVALID, `certificate chain has more than ${MAX_CHAIN} certificates`);
  return blocks;
}

// cosign's Rekor bundle: {"SignedEntryTimestamp": b64, "Payload": {"body": b64, "integratedTime": n,
// "logIndex": n, "logID": hex}}; the body's apiVersion and kind name the entry's type.
function tlogEntryOf(text: string): Readonly<Record<string, unknown>> {
  const invalid = (why: string): TrustgateError => new TrustgateError(ErrorCode.COSIGN_TLOG_INVALID, `Rekor bundle annotation ${why}`);
  const document = parseJsonBytes(Buffer.from(text, 'utf8'), ErrorCode.COSIGN_TLOG_INVALID, 'Rekor bundle annotation');
  const payload = isPlainObject(document) ? document['Payload'] : undefined;
  if (!isPlainObject(document) || !isPlainObject(payload)) throw invalid('is not an object with "Payload"');
  const { body, integratedTime, logIndex, logID } = payload;
  const set = document['SignedEntryTimestamp'];
  if (typeof body !== 'string' || typeof set !== 'string' || typeof logID !== 'string' || !/^[0-9a-f]{64}$/.test(logID)) throw invalid('lacks body, SignedEntryTimestamp or logID');
  if (!Number.isSafeInteger(integratedTime) || !Number.isSafeInteger(logIndex)) throw invalid('lacks integratedTime or logIndex');
  const entry = parseJsonBytes(Buffer.from(body, 'base64'), ErrorCode.COSIGN_TLOG_INVALID, 'Rekor entry body');
  if (!isPlainObject(entry) || typeof entry['kind'] !== 'string' || typeof entry['apiVersion'] !== 'string') throw invalid('body has no kind and apiVersion');
  return {
    logIndex: String(logIndex),
    logId: { keyId: Buffer.from(logID, 'hex').toString('base64') },
    kindVersion: { kind: entry['kind'], version: entry['apiVersion'] },
    integratedTime: String(integratedTime),
    inclusionPromise: { signedEntryTimestamp: set },
    canonicalizedBody: body,
  };
}

const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;
// Far above a TSA's response (a few KiB with its certificate chain).
const MAX_TIMESTAMP_CHARS = 64 * 1024;

// cosign's timestamp annotation: {"SignedRFC3161Timestamp": b64 of the TSA's DER response}.
// Only its shape is read here; sigstore-js checks the token against the root's TSAs, over
// the signature bytes, and the certificate at its time.
function timestampOf(text: string): string {
  const invalid = (why: string): TrustgateError => new TrustgateError(ErrorCode.COSIGN_TLOG_INVALID, `RFC 3161 timestamp annotation ${why}`);
  if (text.length > MAX_TIMESTAMP_CHARS) throw invalid(`is longer than ${MAX_TIMESTAMP_CHARS} characters`);
  const document = parseJsonBytes(Buffer.from(text, 'utf8'), ErrorCode.COSIGN_TLOG_INVALID, 'RFC 3161 timestamp annotation');
  const token = isPlainObject(document) ? document['SignedRFC3161Timestamp'] : undefined;
  if (typeof token !== 'string' || !BASE64_RE.test(token)) throw invalid('is not an object with a base64 "SignedRFC3161Timestamp"');
  return token;
}
