// The Red Hat simple signing ImageVerifier (what Portieris calls `simple`): resolve the
// image to its manifest digest in the registry, read its signatures from the lookaside
// store and the registry's signature extension, and accept the digest when every rule of
// the requirement holds, with containers/image's semantics:
//   reject - never holds (decided before any network request);
//   insecureAcceptAnything - always holds;
//   signedBy - some signature verifies with a key of the rule's keyring, its payload's
//     `critical.type` is the atomic container signature, its manifest digest is the
//     image's (compared by value), and its docker reference is accepted by `signedIdentity`.
// A signature failing any check is skipped with its reason kept; the denial lists them.
// Security: the signature is verified before its payload is parsed; the digest check binds
// the signature to this image's bytes and the identity check to its name, so a signature
// copied from another image (or another tag of the signer's) is refused.
import type { RegistryCredentials } from '../../registry/credential-keyring.js';
import { ErrorCode, TrustgateError, toTrustgateError } from '../../errors.js';
import type { ImageReference } from '../../image/reference.js';
import type { Fetch, Logger } from '../../ports.js';
import { createTokenAuth, type TokenAuth } from '../../registry/token-auth.js';
import { startDeadline, type Deadline } from '../cosign/deadline.js';
import { createRegistryClient, DEFAULT_REGISTRY_LIMITS, type RegistryClient } from '../cosign/registry-client.js';
import type { ImageVerifier, SimpleSigningRequirement, SimpleSigningRule, VerifiedImage } from '../verifier.js';
import { checkIdentity } from './identity.js';
import { readKeyring, type Keyring } from './keyring.js';
import { DEFAULT_PACKET_LIMITS, type PacketLimits } from './packets.js';
import { decodeSimplePayload } from './payload.js';
import { verifySimpleSignature } from './signature.js';
import {
  DEFAULT_SIGNATURE_SOURCE_LIMITS,
  readLookasideSignatures,
  readRegistrySignatures,
  registrySupportsSignatures,
  type SignatureCandidate,
  type SignatureSourceLimits,
} from './signature-sources.js';

// Whole-verification budget for the registry's and the store's answers.
export const DEFAULT_SIMPLE_DEADLINE_MS = 20_000;

export interface SimpleVerifierDeps {
  readonly fetch: Fetch;
  readonly logger: Logger;
  // An anonymous token client for registries.
  readonly tokens?: TokenAuth;
  readonly limits?: SignatureSourceLimits;
  readonly packetLimits?: PacketLimits;
  readonly deadlineMs?: number;
  // Monotonic milliseconds for the deadline (default performance.now).
  readonly monotonicNow?: () => number;
}

// The verifier a process uses: its own anonymous token client, so registries (named by the
// images verified) never receive the operator's trust-server credentials. `realmHosts`: the
// operator's allow-list of token realm hosts a workload's pull-secret credential may go to
// besides the registry's own (TRUSTGATE_TRUST_REALM_HOSTS).
export function createAnonymousSimpleVerifier(fetch: Fetch, logger: Logger, nowMs: () => number, realmHosts: readonly string[] = []): ImageVerifier<SimpleSigningRequirement> {
  return createSimpleVerifier({ fetch, logger, tokens: createTokenAuth({ fetch, timeoutMs: 10_000, now: nowMs, realmHosts }) });
}

interface SignedByRule {
  readonly rule: SimpleSigningRule;
  readonly keyring: Keyring;
}

// Order in which a denial's code is chosen when signatures failed for different reasons:
// the reason of the signature that got furthest (a valid signature for another image says
// more than a signature by an unknown key).
const REASON_RANK: readonly string[] = [
  ErrorCode.SIMPLE_DIGEST_MISMATCH,
  ErrorCode.SIMPLE_IDENTITY_MISMATCH,
  ErrorCode.SIMPLE_PAYLOAD_INVALID,
  ErrorCode.SIMPLE_SIGNATURE_INVALID,
];

export function createSimpleVerifier(deps: SimpleVerifierDeps): ImageVerifier<SimpleSigningRequirement> {
  const limits = deps.limits ?? DEFAULT_SIGNATURE_SOURCE_LIMITS;
  const packetLimits = deps.packetLimits ?? { ...DEFAULT_PACKET_LIMITS, maxSignatureBytes: limits.maxSignatureBytes };
  const registry: RegistryClient = createRegistryClient({
    fetch: deps.fetch,
    ...(deps.tokens === undefined ? {} : { tokens: deps.tokens }),
    limits: DEFAULT_REGISTRY_LIMITS,
  });
  const access = deps.tokens === undefined ? {} : { tokens: deps.tokens };

  // Every signature of the image from the store and the registry extension (read together).
  const readSignatures = async (
    image: ImageReference,
    requirement: SimpleSigningRequirement,
    digest: string,
    deadline: Deadline,
    credentials: RegistryCredentials | undefined,
  ): Promise<readonly SignatureCandidate[]> => {
    const fromStore =
      requirement.storeURL === undefined
        ? Promise.resolve([])
        : readLookasideSignatures(deps.fetch, requirement.storeURL, requirement.storeCredentials, image, digest, limits, deadline);
    const fromRegistry = registrySupportsSignatures(deps.fetch, image, limits, deadline).then((supported) =>
      supported ? readRegistrySignatures(deps.fetch, credentials === undefined ? access : { ...access, credentials }, image, digest, limits, deadline) : [],
    );
    const [store, extension] = await Promise.all([fromStore, fromRegistry]);
    return [...store, ...extension];
  };

  return {
    kind: 'simple',
    // `signal` is the caller's budget: it aborts the registry and store requests together
    // with the verifier's own deadline, whichever ends first.
    async verify(image: ImageReference, requirement: SimpleSigningRequirement, now: Date, signal?: AbortSignal, credentials?: RegistryCredentials): Promise<VerifiedImage> {
      if (requirement.rules.length === 0) throw new TrustgateError(ErrorCode.POLICY_INVALID, 'simple signing requirement lists no rules: expected at least one');
      if (requirement.rules.some((rule) => rule.type === 'reject')) {
        throw new TrustgateError(ErrorCode.SIMPLE_REJECTED, 'simple signing policy rejects this image (a "reject" requirement)');
      }
      // A keyring that cannot be used is the policy's fault: known before any request.
      const signedBy: SignedByRule[] = await Promise.all(
        requirement.rules.filter((rule) => rule.type === 'signedBy').map(async (rule): Promise<SignedByRule> => {
          if (rule.keyring === undefined) throw new TrustgateError(ErrorCode.POLICY_INVALID, 'simple signing signedBy requirement has no keyring');
          return { rule, keyring: await readKeyring(rule.keyring.source, rule.keyring.bytes) };
        }),
      );
      const deadline = startDeadline(deps.deadlineMs ?? DEFAULT_SIMPLE_DEADLINE_MS, deps.monotonicNow, signal);
      const digest = await (credentials === undefined ? registry : registry.withCredentials(credentials)).resolveDigest(image, deadline);
      if (signedBy.length === 0) return { digest, signers: [] };
      const candidates = await readSignatures(image, requirement, digest, deadline, credentials).catch((thrown: unknown) => {
        const error = toTrustgateError(thrown);
        if (error.code === ErrorCode.INTERNAL) throw thrown;
        // The deadline (or the caller giving up) while reading a store is that store's failure.
        if (error.code === ErrorCode.SIMPLE_STORE_UNAVAILABLE || error.code === ErrorCode.SIMPLE_STORE_REDIRECT_REFUSED) throw error;
        throw new TrustgateError(ErrorCode.SIMPLE_STORE_UNAVAILABLE, `signature store: ${error.message}`, { cause: error });
      });
      if (candidates.length === 0) {
        const where = requirement.storeURL === undefined ? 'the registry announces no signature extension or holds none' : 'nothing in the lookaside store or the registry';
        throw new TrustgateError(ErrorCode.SIMPLE_SIGNATURE_MISSING, `no simple signing signatures for ${digest} (${where})`);
      }
      const signers: string[] = [];
      for (const entry of signedBy) {
        const signer = await findAcceptedSignature(image, digest, entry, candidates, now, packetLimits);
        if (!signers.includes(signer)) signers.push(signer);
      }
      deps.logger.info('simple signing signatures verified', { digest, signers });
      return { digest, signers };
    },
  };
}

// The signer of the first signature that satisfies one signedBy rule; else a denial listing
// every signature's reason, its code that of the signature that got furthest.
async function findAcceptedSignature(
  image: ImageReference,
  digest: string,
  { rule, keyring }: SignedByRule,
  candidates: readonly SignatureCandidate[],
  now: Date,
  packetLimits: PacketLimits,
): Promise<string> {
  const reasons: TrustgateError[] = [];
  for (const candidate of candidates) {
    if ('error' in candidate) {
      reasons.push(candidate.error);
      continue;
    }
    try {
      const verified = await verifySimpleSignature(candidate.bytes, keyring, now, packetLimits);
      const payload = decodeSimplePayload(verified.payload);
      if (payload.manifestDigest !== digest) {
        throw new TrustgateError(ErrorCode.SIMPLE_DIGEST_MISMATCH, `signed digest ${payload.manifestDigest.slice(0, 100)} is not the image's ${digest}`);
      }
      checkIdentity(image, rule.signedIdentity, payload.dockerReference);
      return `simple:${verified.fingerprint}`;
    } catch (thrown) {
      const error = toTrustgateError(thrown);
      if (error.code === ErrorCode.INTERNAL) throw thrown;
      reasons.push(new TrustgateError(error.code, `${candidate.where}: ${error.message}`, { cause: error }));
    }
  }
  const code = REASON_RANK.find((ranked) => reasons.some((reason) => reason.code === ranked)) ?? ErrorCode.SIMPLE_SIGNATURE_INVALID;
  const detail = reasons.map((reason) => `[${reason.code}] ${reason.message}`).join('; ');
  return Promise.reject(
    new TrustgateError(code as ErrorCode, `simple signing: no signature of ${candidates.length} is accepted by keyring ${keyring.source}: ${detail}`),
  );
}
