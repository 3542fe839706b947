// Decodes the verify-image function's request once, at the edge, reporting every bad
// field at once. After this the use case trusts the shape.
import { ErrorCode, TrustgateError, type FieldProblem } from '../errors.js';
import { isPlainObject } from '../json.js';
import { isDelegationName } from '../trust/notary/decode.js';
import { publicKeyFromPem } from '../trust/notary/keys.js';
import { normaliseTrustServerUrl } from '../trust/notary/trust-servers.js';
import type { SignerRequirement } from '../trust/verifier.js';

// Two forms: the explicit one names the trust requirement; the policy one names the
// workload's namespace and the requirement comes from the policy that applies there.
export type VerifyImageRequest =
  | {
      readonly kind: 'explicit';
      readonly image: string;
      readonly trust: {
        readonly server?: string;
        // Set by a served or deployed handler when `server` came from its caller.
        readonly serverFromCaller?: boolean;
        readonly signers: readonly SignerRequirement[];
        readonly rootKeyIds: readonly string[];
      };
    }
  | { readonly kind: 'policy'; readonly image: string; readonly namespace: string };

// Kubernetes namespace names are DNS labels.
const NAMESPACE_PATTERN = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const MAX_IMAGE_LENGTH = 4096;
const MAX_LIST = 32;

export function decodeVerifyImageRequest(input: unknown): VerifyImageRequest {
  const problems: FieldProblem[] = [];
  const fail = (path: string, message: string): void => {
    problems.push({ path, message });
  };
  if (!isPlainObject(input)) {
    throw new TrustgateError(ErrorCode.REQUEST_INVALID, 'request must be a JSON object', {
      problems: [{ path: '', message: 'must be an object' }],
    });
  }
  const image = input['image'];
  if (typeof image !== 'string' || image.length === 0 || image.length > MAX_IMAGE_LENGTH) {
    fail('image', 'must be a non-empty string');
  }
  for (const key of Object.keys(input)) {
    if (!['image', 'trust', 'namespace'].includes(key)) fail(key, 'is not a known field');
  }
  if (input['namespace'] !== undefined) {
    const namespace = input['namespace'];
    if (typeof namespace !== 'string' || !NAMESPACE_PATTERN.test(namespace)) fail('namespace', 'must be a Kubernetes namespace name');
    if (input['trust'] !== undefined) fail('trust', 'cannot be given with namespace: the policy decides the trust requirement');
    if (problems.length > 0) throw invalid(problems);
    return { kind: 'policy', image: image as string, namespace: namespace as string };
  }
  const trustInput = input['trust'] ?? {};
  let server: string | undefined;
  const signers: SignerRequirement[] = [];
  const rootKeyIds: string[] = [];
  if (!isPlainObject(trustInput)) {
    fail('trust', 'must be an object');
  } else {
    for (const key of Object.keys(trustInput)) {
      if (!['server', 'signers', 'rootKeyIds'].includes(key)) fail(`trust.${key}`, 'is not a known field');
    }
    const rawServer = trustInput['server'];
    if (rawServer !== undefined) {
      if (typeof rawServer !== 'string' || rawServer.length === 0) fail('trust.server', 'must be a non-empty string');
      else {
        try {
          server = normaliseTrustServerUrl(rawServer);
        } catch (error) {
          fail('trust.server', (error as Error).message);
        }
      }
    }
    const rawSigners = trustInput['signers'] ?? [];
    if (!Array.isArray(rawSigners) || rawSigners.length > MAX_LIST) {
      fail('trust.signers', `must be an array of at most ${MAX_LIST} signers`);
    } else {
      rawSigners.forEach((signer: unknown, index) => {
        const path = `trust.signers[${index}]`;
        if (!isPlainObject(signer)) return fail(path, 'must be an object');
        const { name, publicKey } = signer;
        if (typeof name !== 'string' || !isDelegationName(name.startsWith('targets/') ? name : `targets/${name}`)) {
          fail(`${path}.name`, 'must be a delegation name such as "alice" or "targets/alice"');
        }
        if (typeof publicKey !== 'string' || !isPemKey(publicKey)) {
          fail(`${path}.publicKey`, 'must be a PEM public key or certificate');
        }
        if (typeof name === 'string' && typeof publicKey === 'string') signers.push({ name, publicKeyPem: publicKey });
      });
    }
    const rawIds = trustInput['rootKeyIds'] ?? [];
    if (!Array.isArray(rawIds) || rawIds.length > MAX_LIST) {
      fail('trust.rootKeyIds', `must be an array of at most ${MAX_LIST} key IDs`);
    } else {
      rawIds.forEach((id: unknown, index) => {
        if (typeof id === 'string' && /^[0-9a-f]{64}$/.test(id)) rootKeyIds.push(id);
        else fail(`trust.rootKeyIds[${index}]`, 'must be a 64-character lower-case hex key ID');
      });
    }
  }
  if (problems.length > 0) throw invalid(problems);
  return {
    kind: 'explicit',
    image: image as string,
    trust: { ...(server === undefined ? {} : { server }), signers, rootKeyIds },
  };
}

function isPemKey(pem: string): boolean {
  try {
    publicKeyFromPem(pem);
    return true;
  } catch {
    return false;
  }
}

function invalid(problems: readonly FieldProblem[]): TrustgateError {
  const summary = problems.map((p) => `${p.path}: ${p.message}`).join('; ');
  return new TrustgateError(ErrorCode.REQUEST_INVALID, `invalid verify-image request: ${summary}`, { problems });
}
