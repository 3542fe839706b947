// Decodes what a deployed verify-image function answered, once, strictly. The answer crosses
// a network and a platform we do not control, so it is hostile until decoded: only the
// verify-image response contract is accepted, with bounded sizes, and it must be an answer
// to the question asked. Anything else is a reason to deny, never to allow.
import { ErrorCode, TrustgateError, type FieldProblem } from '../../shared/errors.js';
import { formatImageReference, parseImageReference } from '../../shared/image/reference.js';
import { isPlainObject } from '../../shared/json.js';
import type { PolicySource } from '../../shared/policy/match-policy.js';
import type { UnenforcedFailure, VerifyImageResponse } from '../../shared/verify/verify-image.js';

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const MAX_LIST = 64;
const MAX_TEXT = 4096;
const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));
const FIELDS = new Set(['allowed', 'image', 'digest', 'reasons', 'codes', 'signers', 'verifiedBy', 'stale', 'policy', 'mutateImage', 'wouldDeny']);
const SIGNATURE_KINDS = new Set(['notary', 'cosign', 'simple']);

// `requested` is the image this process asked about. Besides the shape, the answer must be
// about that image (an answer for another image would pin this container to someone else's
// digest), an allow must carry no failure codes, a denial at least one, and an allowed
// digest-pinned image must come back with its own digest.
export function decodeVerifyImageAnswer(value: unknown, requested: string): VerifyImageResponse {
  const problems: FieldProblem[] = [];
  const fail = (path: string, message: string): void => {
    problems.push({ path, message });
  };
  if (!isPlainObject(value)) throw malformed([{ path: '', message: 'must be an object' }]);
  // Unknown fields are named by position: their names are the endpoint's text, never repeated.
  Object.keys(value).forEach((key, index) => {
    if (!FIELDS.has(key)) fail(`(field #${index})`, 'is not a field of the verify-image response');
  });
  const { allowed, image, digest, stale, mutateImage } = value;
  if (typeof allowed !== 'boolean') fail('allowed', 'must be a boolean');
  if (typeof image !== 'string' || image !== expectedImage(requested)) fail('image', `must be the image asked about (${expectedImage(requested)})`);
  if (digest !== null && (typeof digest !== 'string' || !DIGEST.test(digest))) fail('digest', 'must be null or sha256:<64 hex>');
  const reasons = decodeStrings(value['reasons'], 'reasons', fail);
  const codes = decodeStrings(value['codes'], 'codes', fail);
  const signers = decodeStrings(value['signers'], 'signers', fail);
  const verifiedBy = value['verifiedBy'] === undefined ? undefined : decodeStrings(value['verifiedBy'], 'verifiedBy', fail);
  verifiedBy?.forEach((kind, index) => {
    if (!SIGNATURE_KINDS.has(kind)) fail(`verifiedBy[${index}]`, 'must be "notary", "cosign" or "simple"');
  });
  codes.forEach((code, index) => {
    if (!KNOWN_CODES.has(code)) fail(`codes[${index}]`, 'is not a trustgate error code');
  });
  if (stale !== undefined && typeof stale !== 'boolean') fail('stale', 'must be a boolean');
  if (mutateImage !== undefined && typeof mutateImage !== 'boolean') fail('mutateImage', 'must be a boolean');
  const policy = decodePolicy(value['policy'], fail);
  const wouldDeny = value['wouldDeny'] === undefined ? undefined : decodeWouldDeny(value['wouldDeny'], fail);
  if (allowed === true && codes.length > 0) fail('codes', 'must be empty when allowed');
  if (allowed === false && codes.length === 0) fail('codes', 'must name at least one failure when denied');
  if (allowed === false && digest !== null) fail('digest', 'must be null when denied');
  const pinned = pinnedDigest(requested);
  if (allowed === true && pinned !== undefined && digest !== pinned) fail('digest', `must be the requested digest ${pinned}`);
  if (problems.length > 0) throw malformed(problems);
  return {
    allowed: allowed as boolean,
    image: image as string,
    digest: digest as string | null,
    reasons,
    codes,
    signers,
    ...(verifiedBy === undefined ? {} : { verifiedBy: verifiedBy as ('notary' | 'cosign' | 'simple')[] }),
    ...(stale === undefined ? {} : { stale: stale as boolean }),
    ...(policy === undefined ? {} : { policy }),
    ...(mutateImage === undefined ? {} : { mutateImage: mutateImage as boolean }),
    ...(wouldDeny === undefined || wouldDeny.length === 0 ? {} : { wouldDeny }),
  };
}

// Failures of policies in warn or audit mode: bounded like the other lists, each with a
// known mode and code.
function decodeWouldDeny(value: unknown, fail: (path: string, message: string) => void): UnenforcedFailure[] {
  if (!Array.isArray(value) || value.length > MAX_LIST) {
    fail('wouldDeny', `must be an array of at most ${MAX_LIST} failures`);
    return [];
  }
  const failures: UnenforcedFailure[] = [];
  value.forEach((item: unknown, index) => {
    const path = `wouldDeny[${index}]`;
    if (!isPlainObject(item) || Object.keys(item).some((key) => !['mode', 'code', 'reason'].includes(key))) {
      fail(path, 'must be an object with mode, code and reason');
      return;
    }
    const { mode, code, reason } = item;
    if (mode !== 'warn' && mode !== 'audit') fail(`${path}.mode`, 'must be "warn" or "audit"');
    if (typeof code !== 'string' || !KNOWN_CODES.has(code)) fail(`${path}.code`, 'is not a trustgate error code');
    if (typeof reason !== 'string' || reason.length > MAX_TEXT) fail(`${path}.reason`, `must be a string of at most ${MAX_TEXT} characters`);
    if ((mode === 'warn' || mode === 'audit') && typeof code === 'string' && KNOWN_CODES.has(code) && typeof reason === 'string' && reason.length <= MAX_TEXT) {
      failures.push({ mode, code, reason });
    }
  });
  return failures;
}

function decodeStrings(value: unknown, path: string, fail: (path: string, message: string) => void): string[] {
  if (!Array.isArray(value) || value.length > MAX_LIST) {
    fail(path, `must be an array of at most ${MAX_LIST} strings`);
    return [];
  }
  const strings: string[] = [];
  value.forEach((item: unknown, index) => {
    if (typeof item === 'string' && item.length <= MAX_TEXT) strings.push(item);
    else fail(`${path}[${index}]`, `must be a string of at most ${MAX_TEXT} characters`);
  });
  return strings;
}

function decodePolicy(value: unknown, fail: (path: string, message: string) => void): PolicySource | null | undefined {
  if (value === undefined || value === null) return value;
  if (!isPlainObject(value)) {
    fail('policy', 'must be null or an object');
    return undefined;
  }
  const { kind, name, namespace, pattern } = value;
  Object.keys(value).forEach((key, index) => {
    if (!['kind', 'name', 'namespace', 'pattern'].includes(key)) fail(`policy.(field #${index})`, 'is not a field of a policy source');
  });
  if (kind !== 'ImagePolicy' && kind !== 'ClusterImagePolicy') fail('policy.kind', 'must be ImagePolicy or ClusterImagePolicy');
  if (!isShortString(name)) fail('policy.name', 'must be a string');
  if (!isShortString(pattern)) fail('policy.pattern', 'must be a string');
  if (namespace !== undefined && !isShortString(namespace)) fail('policy.namespace', 'must be a string');
  if (!(kind === 'ImagePolicy' || kind === 'ClusterImagePolicy') || !isShortString(name) || !isShortString(pattern)) return undefined;
  return { kind, name, pattern, ...(isShortString(namespace) ? { namespace } : {}) };
}

function isShortString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_TEXT;
}

// The remote names the image the way the in-process use case does: normalised when it
// parses, as written when it does not.
function expectedImage(requested: string): string {
  try {
    return formatImageReference(parseImageReference(requested));
  } catch {
    return requested;
  }
}

function pinnedDigest(requested: string): string | undefined {
  try {
    return parseImageReference(requested).digest;
  } catch {
    return undefined;
  }
}

function malformed(problems: readonly FieldProblem[]): TrustgateError {
  const summary = problems
    .slice(0, 5)
    .map((p) => `${p.path || '(answer)'} ${p.message}`)
    .join('; ');
  return new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, `the verify-image answer is malformed: ${summary}`, { problems });
}
