// The cosign ImageVerifier for classic, key-signed signatures: resolve the image to its
// manifest digest in the registry, read the signature manifest at `sha256-<hex>.sig`, and
// accept the digest when at least `threshold` authorities each have a signature that
// verifies with their key and whose payload vouches for exactly that digest.
// A signature failing any check is skipped with its reason kept; the image is denied only
// when too few authorities are satisfied, and the denial lists every reason.
// Security: the signature is checked over the payload's exact bytes before the payload is
// parsed, so unauthenticated JSON is never interpreted; the payload's digest claim (not its
// docker-reference) binds it to the image, as in cosign, so a valid signature copied from
// another image is refused.
import { createBoundedMemo } from '../../cache/bounded-memo.js';
import { ErrorCode, TrustgateError, toTrustgateError } from '../../errors.js';
import type { ImageReference } from '../../image/reference.js';
import type { Fetch, Logger } from '../../ports.js';
import { createTokenAuth, type TokenAuth } from '../../registry/token-auth.js';
import { decodeBase64 } from '../notary/base64.js';
import type { RegistryCredentials } from '../../registry/credential-keyring.js';
import type { CosignRequirement, ImageVerifier, VerifiedImage } from '../verifier.js';
import { startDeadline } from './deadline.js';
import { loadCosignKey, verifySignature, type CosignKey } from './keys.js';
import { checkPayload } from './payload.js';
import { createRegistryClient, DEFAULT_REGISTRY_LIMITS, MEDIA_TYPES, type RegistryClient, type RegistryLimits, type SignatureLayer } from './registry-client.js';

// Whole-verification budget for the registry's answers.
export const DEFAULT_COSIGN_DEADLINE_MS = 20_000;

export interface CosignVerifierDeps {
  readonly fetch: Fetch;
  readonly logger: Logger;
  // An anonymous token client for registries.
  readonly tokens?: TokenAuth;
  readonly limits?: RegistryLimits;
  readonly deadlineMs?: number;
  // Monotonic milliseconds for the deadline (default performance.now).
  readonly monotonicNow?: () => number;
}

// The verifier a process uses: its own anonymous token client, so registries (named by the
// images verified) never receive the operator's trust-server credentials.
// `realmHosts`: the operator's allow-list of token realm hosts a pull-secret credential may go
// to besides the registry's own (TRUSTGATE_TRUST_REALM_HOSTS).
export function createAnonymousCosignVerifier(fetch: Fetch, logger: Logger, nowMs: () => number, realmHosts: readonly string[] = []): ImageVerifier<CosignRequirement> {
  return createCosignVerifier({ fetch, logger, tokens: createTokenAuth({ fetch, timeoutMs: 10_000, now: nowMs, realmHosts }) });
}

interface Authority {
  readonly name: string;
  readonly key: CosignKey;
}

// Keys by PEM text: policies name the same few keys on every admission.
const KEYS = createBoundedMemo<string, CosignKey>(256);

function keyFor(pem: string, name: string): CosignKey {
  const known = KEYS.get(pem);
  if (known !== undefined) return known;
  const key = loadCosignKey(pem, name);
  KEYS.set(pem, key);
  return key;
}

export function createCosignVerifier(deps: CosignVerifierDeps): ImageVerifier<CosignRequirement> {
  const anonymous: RegistryClient = createRegistryClient({
    fetch: deps.fetch,
    ...(deps.tokens === undefined ? {} : { tokens: deps.tokens }),
    limits: deps.limits ?? DEFAULT_REGISTRY_LIMITS,
  });
  return {
    kind: 'cosign',
    // `signal` is the caller's budget: it aborts the registry requests together with the
    // verifier's own deadline, whichever ends first.
    async verify(image: ImageReference, requirement: CosignRequirement, _now: Date, signal?: AbortSignal, credentials?: RegistryCredentials): Promise<VerifiedImage> {
      const registry = credentials === undefined ? anonymous : anonymous.withCredentials(credentials);
      const authorities: Authority[] = requirement.authorities.map((authority) => ({ name: authority.name, key: keyFor(authority.publicKeyPem, authority.name) }));
      if (authorities.length === 0 || requirement.threshold < 1 || requirement.threshold > authorities.length) {
        throw new TrustgateError(ErrorCode.POLICY_INVALID, `cosign threshold ${requirement.threshold} cannot be met by ${authorities.length} authorities`);
      }
      const deadline = startDeadline(deps.deadlineMs ?? DEFAULT_COSIGN_DEADLINE_MS, deps.monotonicNow, signal);
      const digest = await registry.resolveDigest(image, deadline);
      const layers = await registry.listSignatures(image, digest, deadline);
      if (layers.length === 0) {
        throw new TrustgateError(ErrorCode.COSIGN_SIGNATURE_MISSING, `no cosign signatures for ${digest} (nothing at tag ${digest.replace(':', '-')}.sig)`);
      }
      const satisfied = new Set<string>();
      const reasons: TrustgateError[] = [];
      for (const layer of layers) {
        if (satisfied.size === authorities.length) break;
        const pending = authorities.filter((authority) => !satisfied.has(authority.name));
        try {
          const signers = await checkLayer(registry, image, layer, digest, pending, deadline);
          for (const name of signers) satisfied.add(name);
        } catch (thrown) {
          const error = toTrustgateError(thrown);
          if (error.code === ErrorCode.INTERNAL) throw thrown;
          // The deadline (or the caller giving up) is the registry's failure as a whole, not
          // one signature's.
          if (error.code === ErrorCode.REGISTRY_UNAVAILABLE || signal?.aborted === true) throw error;
          reasons.push(error);
        }
      }
      if (satisfied.size >= requirement.threshold) {
        const signers = authorities.filter((authority) => satisfied.has(authority.name)).map((authority) => `cosign:${authority.name}`);
        deps.logger.info('cosign signatures verified', { digest, signers });
        return { digest, signers };
      }
      throw notVerified(requirement, satisfied.size, layers.length, reasons);
    },
  };
}

// One signature layer against the authorities not yet satisfied; answers the names of
// those whose key made it, or throws the reason the layer counts for none.
async function checkLayer(
  registry: RegistryClient,
  image: ImageReference,
  layer: SignatureLayer,
  digest: string,
  authorities: readonly Authority[],
  deadline: ReturnType<typeof startDeadline>,
): Promise<readonly string[]> {
  const where = `signature ${layer.index} (${layer.digest})`;
  if (layer.mediaType !== MEDIA_TYPES.simpleSigning) {
    throw new TrustgateError(ErrorCode.COSIGN_PAYLOAD_INVALID, `${where} is not of media type ${MEDIA_TYPES.simpleSigning}`);
  }
  const signature = layer.signature === undefined ? undefined : decodeBase64(layer.signature);
  if (signature === undefined || signature.length === 0) {
    throw new TrustgateError(ErrorCode.COSIGN_SIGNATURE_INVALID, `${where} has no base64 signature annotation`);
  }
  const payload = await registry.fetchPayload(image, layer, deadline);
  const signers = authorities.filter((authority) => verifySignature(authority.key, payload, signature)).map((authority) => authority.name);
  if (signers.length === 0) {
    throw new TrustgateError(ErrorCode.COSIGN_SIGNATURE_INVALID, `${where} is not valid for key ${authorities.map((authority) => authority.name).join(', ')}`);
  }
  try {
    checkPayload(payload, digest);
  } catch (thrown) {
    const error = toTrustgateError(thrown);
    throw new TrustgateError(error.code, `${where} by ${signers.join(', ')}: ${error.message}`, { cause: error });
  }
  return signers;
}

// The denial: every skipped signature's reason in one message; the code is theirs when they
// agree (a wrong key: COSIGN_SIGNATURE_INVALID; a copied signature: COSIGN_DIGEST_MISMATCH).
function notVerified(requirement: CosignRequirement, satisfied: number, count: number, reasons: readonly TrustgateError[]): TrustgateError {
  const codes = [...new Set(reasons.map((reason) => reason.code))];
  const only = codes.length === 1 ? codes[0] : undefined;
  const code = satisfied > 0 ? ErrorCode.COSIGN_THRESHOLD_NOT_MET : (only ?? ErrorCode.COSIGN_SIGNATURE_INVALID);
  const need = `${requirement.threshold} of ${requirement.authorities.length} cosign authorities`;
  const detail = reasons.map((reason) => `[${reason.code}] ${reason.message}`).join('; ');
  return new TrustgateError(code, `cosign: ${satisfied} authorities satisfied by ${count} signatures, need ${need}${detail === '' ? '' : `: ${detail}`}`);
}
