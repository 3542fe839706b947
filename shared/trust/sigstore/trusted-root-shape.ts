// Decodes a Sigstore `trusted_root.json` fetched from a TUF mirror (or read back from the
// store) and refuses one that no verifier could use. TUF vouches only that the bytes are the
// ones the repository's targets role signed; this check is the second gate: a signed root
// that is malformed (an unknown media type, a key or certificate that does not parse, a list
// that is not a list) is refused here, so the last good root stays in force instead of a
// root that would make every keyless verification fail.
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { canonicalize } from '@tufjs/canonical-json';
import { ErrorCode, TrustgateError, type FieldProblem } from '../../errors.js';
import { isPlainObject, parseJsonBytes } from '../../json.js';
import type { TrustedRootJson } from './trusted-root-source.js';

// Both published versions of the trusted root media type.
const MEDIA_TYPES = new Set(['application/vnd.dev.sigstore.trustedroot+json;version=0.1', 'application/vnd.dev.sigstore.trustedroot.v0.2+json']);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

// Parses and checks the bytes; every problem is reported at once (SIGSTORE_ROOT_INVALID).
export function decodeTrustedRoot(bytes: Uint8Array, what = 'trusted_root.json'): TrustedRootJson {
  const value = parseJsonBytes(bytes, ErrorCode.SIGSTORE_ROOT_INVALID, what);
  assertTrustedRoot(value, what);
  return value;
}

// Checks an already parsed value (the shipped root, a root from a Secret).
export function assertTrustedRoot(value: unknown, what = 'trusted_root.json'): asserts value is TrustedRootJson {
  const problems: FieldProblem[] = [];
  if (!isPlainObject(value)) {
    throw new TrustgateError(ErrorCode.SIGSTORE_ROOT_INVALID, `${what} is not a Sigstore trusted root: expected a JSON object`);
  }
  const mediaType = value['mediaType'];
  if (typeof mediaType !== 'string' || !MEDIA_TYPES.has(mediaType)) {
    problems.push({ path: 'mediaType', message: `expected a Sigstore trusted root media type, got ${JSON.stringify(mediaType)?.slice(0, 80) ?? 'none'}` });
  }
  let anchors = 0;
  anchors += checkList(value, 'tlogs', checkTransparencyLog, problems);
  anchors += checkList(value, 'ctlogs', checkTransparencyLog, problems);
  anchors += checkList(value, 'certificateAuthorities', checkAuthority, problems);
  anchors += checkList(value, 'timestampAuthorities', checkAuthority, problems);
  if (problems.length === 0 && anchors === 0) problems.push({ path: '', message: 'names no transparency log and no certificate authority' });
  if (problems.length > 0) {
    throw new TrustgateError(ErrorCode.SIGSTORE_ROOT_INVALID, `${what} is not a usable Sigstore trusted root: ${problems.length} problem(s), first at ${problems[0]?.path || '(top)'}: ${problems[0]?.message ?? ''}`, { problems });
  }
}

// The root's identity for people and logs: SHA-256 of its canonical JSON (RFC 8785 style,
// as TUF signs), so the same root has the same fingerprint however its file was spaced.
export function trustedRootFingerprint(root: TrustedRootJson): string {
  return `sha256:${createHash('sha256').update(canonicalize(root)).digest('hex')}`;
}

// An optional list of entries; returns how many entries it holds.
function checkList(root: Readonly<Record<string, unknown>>, field: string, check: (entry: unknown, path: string, problems: FieldProblem[]) => void, problems: FieldProblem[]): number {
  const list = root[field];
  if (list === undefined) return 0;
  if (!Array.isArray(list)) {
    problems.push({ path: field, message: 'expected a list' });
    return 0;
  }
  list.forEach((entry, index) => check(entry, `${field}[${index}]`, problems));
  return list.length;
}

// A Rekor or CT log: its base URL, its log ID and a public key that parses.
function checkTransparencyLog(entry: unknown, path: string, problems: FieldProblem[]): void {
  if (!isPlainObject(entry)) {
    problems.push({ path, message: 'expected an object' });
    return;
  }
  if (typeof entry['baseUrl'] !== 'string') problems.push({ path: `${path}.baseUrl`, message: 'expected a URL string' });
  const logId = entry['logId'];
  if (!isPlainObject(logId) || !isBase64(logId['keyId'])) problems.push({ path: `${path}.logId.keyId`, message: 'expected base64' });
  const publicKey = entry['publicKey'];
  if (!isPlainObject(publicKey)) {
    problems.push({ path: `${path}.publicKey`, message: 'expected an object' });
    return;
  }
  checkValidFor(publicKey['validFor'], `${path}.publicKey.validFor`, problems);
  const rawBytes = publicKey['rawBytes'];
  if (!isBase64(rawBytes)) {
    problems.push({ path: `${path}.publicKey.rawBytes`, message: 'expected base64' });
    return;
  }
  try {
    createPublicKey({ key: Buffer.from(rawBytes, 'base64'), format: 'der', type: 'spki' });
  } catch {
    problems.push({ path: `${path}.publicKey.rawBytes`, message: 'is not a DER SubjectPublicKeyInfo' });
  }
}

// A Fulcio CA or a timestamp authority: a non-empty chain of certificates that parse.
function checkAuthority(entry: unknown, path: string, problems: FieldProblem[]): void {
  if (!isPlainObject(entry)) {
    problems.push({ path, message: 'expected an object' });
    return;
  }
  checkValidFor(entry['validFor'], `${path}.validFor`, problems);
  const chain = entry['certChain'];
  const certificates = isPlainObject(chain) ? chain['certificates'] : undefined;
  if (!Array.isArray(certificates) || certificates.length === 0) {
    problems.push({ path: `${path}.certChain.certificates`, message: 'expected a non-empty list' });
    return;
  }
  certificates.forEach((certificate: unknown, index) => {
    const at = `${path}.certChain.certificates[${index}].rawBytes`;
    const rawBytes = isPlainObject(certificate) ? certificate['rawBytes'] : undefined;
    if (!isBase64(rawBytes)) {
      problems.push({ path: at, message: 'expected base64' });
      return;
    }
    try {
      new X509Certificate(Buffer.from(rawBytes, 'base64'));
    } catch {
      problems.push({ path: at, message: 'is not a DER X.509 certificate' });
    }
  });
}

// `validFor: {start, end?}` with RFC 3339 times; start is required by the specification.
function checkValidFor(validFor: unknown, path: string, problems: FieldProblem[]): void {
  if (validFor === undefined) return;
  if (!isPlainObject(validFor) || !isTimestamp(validFor['start']) || (validFor['end'] !== undefined && !isTimestamp(validFor['end']))) {
    problems.push({ path, message: 'expected {start, end?} with RFC 3339 times' });
  }
}

function isBase64(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length % 4 === 0 && BASE64.test(value);
}

function isTimestamp(value: unknown): boolean {
  return typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value) && !Number.isNaN(Date.parse(value));
}
