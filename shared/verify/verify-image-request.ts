// Decodes the verify-image function's request once, at the edge, reporting every bad
// field at once. After this the use case trusts the shape.
import { ErrorCode, TrustgateError, type FieldProblem } from '../errors.js';
import { isPlainObject } from '../json.js';
import { isDelegationName } from '../trust/notary/decode.js';
import { publicKeyFromPem } from '../trust/notary/keys.js';
import { normaliseTrustServerUrl } from '../trust/notary/trust-servers.js';
import { loadCosignKey } from '../trust/cosign/keys.js';
import { keyIdentity } from '../trust/key-identity.js';
import { identityProblems } from '../trust/cosign/identity.js';
import type { CertificateIdentity, CosignAuthority, CosignRequirement, SignerRequirement, TlogMode } from '../trust/verifier.js';
import type { PullSecretEntry } from '../registry/pull-secret.js';
import { decodeRegistryCredentials } from '../registry/workload-pull-secrets.js';

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
      // The cosign requirements, each of which must be met: the keys (at least `threshold`
      // of them must each have signed the image) and the keyless identities (one of them
      // must have signed), each kind given.
      readonly cosign?: readonly Omit<CosignRequirement, 'kind'>[];
      // Set when the request named cosign keys and no `trust`: Notary is then not checked.
      readonly cosignOnly?: true;
    }
  | {
      readonly kind: 'policy';
      readonly image: string;
      readonly namespace: string;
      // The workload's pull-secret credentials, passed by the webhook proxy for this request.
      readonly credentials?: readonly PullSecretEntry[];
    };

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
    if (!['image', 'trust', 'namespace', 'cosign', 'registryCredentials'].includes(key)) fail(key, 'is not a known field');
  }
  if (input['namespace'] !== undefined) {
    const namespace = input['namespace'];
    if (typeof namespace !== 'string' || !NAMESPACE_PATTERN.test(namespace)) fail('namespace', 'must be a Kubernetes namespace name');
    if (input['trust'] !== undefined) fail('trust', 'cannot be given with namespace: the policy decides the trust requirement');
    if (input['cosign'] !== undefined) fail('cosign', 'cannot be given with namespace: the policy decides the trust requirement');
    const credentials = input['registryCredentials'] === undefined ? [] : decodeRegistryCredentials(input['registryCredentials'], 'registryCredentials', problems);
    if (problems.length > 0) throw invalid(problems);
    return { kind: 'policy', image: image as string, namespace: namespace as string, ...(credentials.length === 0 ? {} : { credentials }) };
  }
  if (input['registryCredentials'] !== undefined) fail('registryCredentials', 'is only accepted with namespace (the policy form)');
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
  const cosign = input['cosign'] === undefined ? undefined : decodeCosign(input['cosign'], fail);
  if (problems.length > 0) throw invalid(problems);
  return {
    kind: 'explicit',
    image: image as string,
    trust: { ...(server === undefined ? {} : { server }), signers, rootKeyIds },
    ...(cosign === undefined ? {} : { cosign }),
    ...(cosign !== undefined && input['trust'] === undefined ? { cosignOnly: true as const } : {}),
  };
}

const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/;

// `cosign: {keys?: [{name, publicKey}], identities?: [{issuer|issuerRegExp, subject|subjectRegExp}],
// threshold?, tlog?}`: each key a usable cosign public key (ECDSA P-256/P-384 or RSA PEM;
// Ed25519 refused); the identities, when given, form one keyless authority checked against
// the verifier's trusted root. Each kind given is a requirement of its own, and all must be
// met: `threshold` (1..keys, default 1) counts keys only, and with identities a keyless
// signature by one of them is required as well.
// Security: keys and identities are never pooled under one threshold, where a key signature
// alone would meet a request that names an identity too (or the reverse).
function decodeCosign(value: unknown, fail: (path: string, message: string) => void): readonly Omit<CosignRequirement, 'kind'>[] | undefined {
  if (!isPlainObject(value)) {
    fail('cosign', 'must be an object with keys or identities');
    return undefined;
  }
  for (const key of Object.keys(value)) {
    if (!['keys', 'identities', 'threshold', 'tlog'].includes(key)) fail(`cosign.${key}`, 'is not a known field');
  }
  const keys = value['keys'] ?? [];
  const identities = value['identities'];
  const authorities: CosignAuthority[] = [];
  if (!Array.isArray(keys) || keys.length > MAX_LIST || (keys.length === 0 && identities === undefined)) {
    fail('cosign.keys', `must be an array of 1 to ${MAX_LIST} keys (or give identities)`);
    return undefined;
  }
  // Security: a key counts once towards the threshold, whatever it is called; the same key
  // under two names (the same PEM, or the same SPKI spelled otherwise) is refused, as two
  // policy Secrets holding one key are (the verifier also counts it once).
  const seen = new Map<string, number>();
  keys.forEach((entry: unknown, index) => {
    const path = `cosign.keys[${index}]`;
    if (!isPlainObject(entry)) return fail(path, 'must be an object with name and publicKey');
    const { name, publicKey } = entry;
    if (typeof name !== 'string' || !KEY_NAME.test(name)) return fail(`${path}.name`, 'must be a short name (letters, digits, . _ / -)');
    if (authorities.some((authority) => authority.name === name)) return fail(`${path}.name`, 'must be unique');
    if (typeof publicKey !== 'string') return fail(`${path}.publicKey`, 'must be a PEM public key');
    let identity: string;
    try {
      identity = keyIdentity(loadCosignKey(publicKey, name).key);
    } catch (error) {
      return fail(`${path}.publicKey`, (error as Error).message);
    }
    const earlier = seen.get(identity);
    if (earlier !== undefined) return fail(`${path}.publicKey`, `is the same key as cosign.keys[${earlier}]: each key counts once towards the threshold`);
    seen.set(identity, index);
    authorities.push({ name, publicKeyPem: publicKey });
  });
  const keyless = identities === undefined ? undefined : decodeIdentities(identities, fail);
  const tlog = value['tlog'] ?? 'auto';
  if (tlog !== 'auto' && tlog !== 'required' && tlog !== 'off') fail('cosign.tlog', 'must be one of "auto", "required", "off"');
  else if (tlog === 'off' && identities !== undefined) fail('cosign.tlog', 'cannot be "off" with identities: a keyless signature is only trusted with its transparency-log entry');
  const count = Math.max(keys.length, 1);
  const threshold = value['threshold'] ?? 1;
  if (typeof threshold !== 'number' || !Number.isInteger(threshold) || threshold < 1 || threshold > count) {
    fail('cosign.threshold', `must be an integer from 1 to ${count} (the keys that must each have signed)`);
    return undefined;
  }
  const mode = tlog === 'auto' ? {} : { tlog: tlog as TlogMode };
  return [
    ...(authorities.length === 0 ? [] : [{ authorities, threshold, ...mode }]),
    ...(keyless === undefined ? [] : [{ authorities: [{ name: 'keyless', identities: keyless }], threshold: 1, ...mode }]),
  ];
}

// Keyless identities: 1..MAX_LIST objects, each an issuer and a subject (exact or pattern).
function decodeIdentities(value: unknown, fail: (path: string, message: string) => void): readonly CertificateIdentity[] | undefined {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_LIST) {
    fail('cosign.identities', `must be an array of 1 to ${MAX_LIST} identities`);
    return undefined;
  }
  const identities: CertificateIdentity[] = [];
  value.forEach((entry: unknown, index) => {
    const path = `cosign.identities[${index}]`;
    if (!isPlainObject(entry)) return fail(path, 'must be an object with issuer and subject');
    const identity: Record<string, string> = {};
    for (const [key, field] of Object.entries(entry)) {
      if (!['issuer', 'issuerRegExp', 'subject', 'subjectRegExp'].includes(key)) fail(`${path}.${key}`, 'is not a known field');
      else if (typeof field !== 'string' || field.length === 0) fail(`${path}.${key}`, 'must be a non-empty string');
      else identity[key] = field;
    }
    const problems = identityProblems(identity);
    for (const problem of problems) fail(`${path}.${problem.field}`, problem.message);
    if (problems.length === 0) identities.push(identity);
  });
  return identities.length === value.length ? identities : undefined;
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
