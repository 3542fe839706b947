// The cosign ImageVerifier: resolve the image to its manifest digest in the registry, find
// its signatures where cosign writes them (the classic tag `sha256-<hex>.sig`, one layer per
// signature, and Sigstore v3 bundles stored as OCI artifacts whose subject is the image,
// through the referrers API or the referrers tag), and accept the digest when at least
// `threshold` authorities each have a signature that verifies and vouches for exactly that
// digest, made by a signer of its own: one signer (a key, a certificate identity) counts for
// at most one authority, however many it satisfies (signer-matching.ts). The cryptography
// is sigstore-js's (sigstore-check.ts, loaded lazily): a classic layer is wrapped as a v0.1
// message-signature bundle, a v3 bundle is checked as it is.
// A signature failing any check is skipped with its reason kept; the image is denied only
// when too few authorities have a signer of their own, and the denial lists every reason.
// Security: the signature is checked over the payload's exact bytes before the payload is
// parsed, so unauthenticated JSON is never interpreted; the payload's digest claim (not its
// docker-reference) binds it to the image, as in cosign, so a valid signature copied from
// another image is refused; a v3 bundle counts only as an in-toto statement with cosign's
// signature predicate about this digest (an attestation is not a signature).
// Caching: what the registry answered (signature-material.ts) is recorded and kept in the
// trust cache (signature-cache.ts); a later verification within the freshness window checks
// the recorded signatures again, under its own requirement, instead of reading the registry.
// No verdict is stored, so a changed policy (another key, another identity, another threshold)
// is honoured at once, and a store entry can at worst fail to verify. In process, an allowed
// verdict on anonymously read material (the one of the verification that read the registry,
// or of a re-check of recorded material) is kept by the material object and the
// requirement's content (verdict-memo.ts) and given again, without I/O, by `known` while the
// material is fresh and the trusted root it used is still in force: from the second
// admission of an image on, no asynchronous step is needed. Concurrent verifications of one
// image with the same credentials share one registry read (registry-read-flights.ts). Cache
// use is counted in trustgate_cache_requests_total.
import { ErrorCode, TrustgateError, isTrustgateError, toTrustgateError } from '../../errors.js';
import type { ImageReference } from '../../image/reference.js';
import { noopMetrics, type Fetch, type Logger, type Metrics } from '../../ports.js';
import { createTokenAuth, type TokenAuth } from '../../registry/token-auth.js';
import { credentialFingerprint, type RegistryCredentials } from '../../registry/credential-keyring.js';
import { PUBLIC_GOOD_TRUSTED_ROOT, staticTrustedRootSource, type TrustedRootJson, type TrustedRootSource } from '../sigstore/trusted-root-source.js';
import { isKeyAuthority, type CosignAuthority, type CosignRequirement, type ImageVerifier, type TlogMode, type VerifiedImage } from '../verifier.js';
import { classicToBundle, usesTransparencyLog } from './classic-bundle.js';
import { startDeadline } from './deadline.js';
import { loadCosignKey } from './keys.js';
import { checkPayload } from './payload.js';
import {
  createRegistryClient,
  DEFAULT_REGISTRY_LIMITS,
  MEDIA_TYPES,
  type BundleReferrer,
  type RegistryClient,
  type RegistryLimits,
  type SignatureLayer,
} from './registry-client.js';
import type { CosignSignatureCache } from './signature-cache.js';
import { createRegistryReadFlights } from './registry-read-flights.js';
import { NotRecordedError, offlineSource, type SignatureMaterial, type SignatureSource } from './signature-material.js';
import { createSignerTally, identityLabel, keyLabel, type AuthorityOutcome, type SignerEdge } from './signer-matching.js';
import { checkSignatureEnvelope } from './statement.js';
import { createCosignVerdictMemo } from './verdict-memo.js';

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
  // Sigstore's trusted root for keyless signatures and transparency-log proofs (default: the
  // public-good root shipped with the product); an authority may name its own.
  readonly trustedRoot?: TrustedRootSource;
  // The trust cache for signature material; absent, the registry is read every time.
  readonly cache?: CosignCacheSettings;
}

export interface CosignCacheSettings {
  readonly store: CosignSignatureCache;
  // Within this long of the registry's answer the recording answers alone (0: always read
  // the registry, as sign-callback does).
  readonly freshnessMs: number;
  // Past the window, while the registry is unavailable, the recording still answers for
  // this long, marked stale.
  readonly maxStaleMs: number;
  // Cache use counted as the Notary cache's is: trustgate_cache_requests_total by result
  // (hit: answered from recorded material; miss: the registry read; stale: recorded
  // material answered during an outage).
  readonly metrics?: Metrics;
}

// The verifier a process uses: its own anonymous token client, so registries (named by the
// images verified) never receive the operator's trust-server credentials.
// `realmHosts`: the operator's allow-list of token realm hosts a pull-secret credential may go
// to besides the registry's own (TRUSTGATE_TRUST_REALM_HOSTS); `cache`: the trust cache.
export function createAnonymousCosignVerifier(
  fetch: Fetch,
  logger: Logger,
  nowMs: () => number,
  trustedRoot?: TrustedRootSource,
  realmHosts: readonly string[] = [],
  cache?: CosignCacheSettings,
): ImageVerifier<CosignRequirement> {
  return createCosignVerifier({
    fetch,
    logger,
    tokens: createTokenAuth({ fetch, timeoutMs: 10_000, now: nowMs, realmHosts }),
    ...(trustedRoot === undefined ? {} : { trustedRoot }),
    ...(cache === undefined ? {} : { cache }),
  });
}

type SigstoreCheck = typeof import('./sigstore-check.js');
let sigstoreModule: Promise<SigstoreCheck> | undefined;

// sigstore-js, loaded on the first cosign signature looked at.
function loadSigstore(): Promise<SigstoreCheck> {
  sigstoreModule ??= import('./sigstore-check.js');
  return sigstoreModule;
}

// What one signature offers for checking: a bundle per authority kind, and the check of its
// digest claim once a signature verified.
interface Candidate {
  readonly where: string;
  bundleFor(keyed: boolean, withLog: boolean): unknown;
  readonly artifact?: Uint8Array;
  checkClaim(digest: string): void;
}

export function createCosignVerifier(deps: CosignVerifierDeps): ImageVerifier<CosignRequirement> {
  const anonymous: RegistryClient = createRegistryClient({
    fetch: deps.fetch,
    ...(deps.tokens === undefined ? {} : { tokens: deps.tokens }),
    limits: deps.limits ?? DEFAULT_REGISTRY_LIMITS,
  });
  const trustedRoot = deps.trustedRoot ?? staticTrustedRootSource(PUBLIC_GOOD_TRUSTED_ROOT);
  const rootsFor = (authorities: readonly CosignAuthority[], tlog: TlogMode, signal: AbortSignal | undefined) => rootsForImpl(trustedRoot, authorities, tlog, signal);
  const cache = deps.cache?.store;
  const freshnessMs = deps.cache?.freshnessMs ?? 0;
  const maxStaleMs = deps.cache?.maxStaleMs ?? 0;
  const metrics = deps.cache?.metrics ?? noopMetrics;
  const verdicts = createCosignVerdictMemo();
  // Concurrent verifications of one image share one registry read; what it recorded is
  // kept once, by its last reader.
  const reads = createRegistryReadFlights({
    deadlineMs: deps.deadlineMs ?? DEFAULT_COSIGN_DEADLINE_MS,
    ...(deps.monotonicNow === undefined ? {} : { monotonicNow: deps.monotonicNow }),
    keep: (image, material, checkedAt, partition) => cache?.save(image, material.digest, material, checkedAt, partition) ?? Promise.resolve(),
  });

  // Checks the signatures `source` offers for `digest` against the requirement: the answer,
  // or the denial listing every reason.
  // `used.root` is set to the source's trusted root when an authority needed it.
  async function check(source: SignatureSource, digest: string, requirement: CosignRequirement, tlog: TlogMode, signal: AbortSignal | undefined, used: { root?: TrustedRootJson } = {}): Promise<VerifiedImage> {
    const authorities = requirement.authorities;
    const reasons: TrustgateError[] = [];
    // Security: each place signatures are listed fails alone, its reason kept. The `.sig`
    // tag and the referrers are written by anyone who may push to the repository, no signing
    // key needed: a `.sig` manifest over the bound or malformed (or a referrers index so)
    // must not hide a valid signature found in the other place.
    const kept = (where: string) => (thrown: unknown): readonly never[] => {
      const error = fatalOr(thrown, signal);
      reasons.push(new TrustgateError(error.code, `${where} of ${digest}: ${error.message}`, { cause: error }));
      return [];
    };
    const layers: readonly SignatureLayer[] = await source.listSignatures().catch(kept('signature manifest'));
    const referrers: readonly BundleReferrer[] = await source.listBundleReferrers().catch(kept('referrers'));
    if (layers.length === 0 && referrers.length === 0 && reasons.length === 0) {
      throw new TrustgateError(
        ErrorCode.COSIGN_SIGNATURE_MISSING,
        `no cosign signatures for ${digest} (nothing at tag ${digest.replace(':', '-')}.sig and no Sigstore bundle among its referrers)`,
      );
    }
    const { rootFor: root, shared } = await rootsFor(authorities, tlog, signal);
    if (shared !== undefined) used.root = shared;
    // Every signature is checked against every authority: a signer already counted for one
    // authority may be what another one needs, and the matching decides (signer-matching.ts).
    // Reading stops once every authority has a signer of its own.
    const tally = createSignerTally(authorities.length);
    const sources: (() => Promise<Candidate>)[] = [
      ...layers.map((layer) => () => classicCandidate(source, layer)),
      ...referrers.map((referrer) => () => bundleCandidate(source, referrer)),
    ];
    for (const next of sources) {
      if (tally.assignedCount() === authorities.length) break;
      try {
        const candidate = await next();
        tally.add(await checkCandidate(candidate, authorities, digest, tlog, root));
      } catch (thrown) {
        reasons.push(fatalOr(thrown, signal));
      }
    }
    const outcomes = tally.outcomes();
    const assigned = outcomes.filter((outcome) => outcome.kind === 'assigned').length;
    if (assigned >= requirement.threshold) {
      // Only the signers counted are reported, each with the authority it was counted for.
      const signers = authorities.flatMap((authority, index) => {
        const outcome = outcomes[index];
        return outcome?.kind === 'assigned' ? [`cosign:${authority.name}${outcome.detail}`] : [];
      });
      deps.logger.info('cosign signatures verified', { digest, signers });
      return { digest, signers };
    }
    throw notVerified(requirement, outcomes, layers.length + referrers.length, reasons);
  }

  // The answer from recorded material alone, or undefined when the check needs a part the
  // recording never looked at.
  async function checkRecorded(material: SignatureMaterial, requirement: CosignRequirement, tlog: TlogMode, signal: AbortSignal | undefined, used?: { root?: TrustedRootJson }): Promise<VerifiedImage | undefined> {
    try {
      return await check(offlineSource(material), material.digest, requirement, tlog, signal, used);
    } catch (error) {
      if (error instanceof NotRecordedError) return undefined;
      throw error;
    }
  }

  // What the cache knows of `image` with its check time: the digest (pinned, or the tag's
  // recorded resolution) and that digest's material. The older of the two check times is
  // the answer's: a tag resolved long ago is not made fresh by fresh material.
  async function recall(image: ImageReference, freshSince: number, partition: string): Promise<{ material: SignatureMaterial; checkedAt: number } | undefined> {
    if (cache === undefined) return undefined;
    let digest = image.digest;
    let digestCheckedAt = Number.POSITIVE_INFINITY;
    if (digest === undefined) {
      const resolved = await cache.tagDigest(image, image.tag ?? 'latest', freshSince, partition);
      if (resolved === undefined) return undefined;
      digest = resolved.value;
      digestCheckedAt = resolved.checkedAt;
    }
    const material = await cache.material(image, digest, freshSince, partition);
    return material === undefined ? undefined : { material: material.value, checkedAt: Math.min(digestCheckedAt, material.checkedAt) };
  }

  // A verdict kept for the material the cache holds now for `image` (read anonymously, still
  // fresh by the caller's clock) under exactly this requirement and trusted root; see
  // verdict-memo.ts for why giving it again is equivalent to checking again.
  // Security: nothing for a request with credentials for the image's repository. `verify`
  // reads such an image with those credentials (or checks what it read with them before),
  // and a registry may show a workload's credentials other content than it shows anyone
  // (a private repository whose anonymous view differs, credentials it refuses), so the
  // anonymous reading's verdict is not the answer for that request.
  function knownAnswer(image: ImageReference, requirement: CosignRequirement, now: Date, credentials?: RegistryCredentials): VerifiedImage | undefined {
    if (cache === undefined || freshnessMs <= 0) return undefined;
    if (credentials !== undefined && credentials.forRepository(image.registry, image.repository).length > 0) return undefined;
    const nowMs = now.getTime();
    const held = cache.peek(image, nowMs - freshnessMs);
    if (held === undefined) return undefined;
    const age = nowMs - held.checkedAt;
    if (age < 0 || age >= freshnessMs) return undefined;
    const answer = verdicts.answer(held.value, requirement, trustedRoot.inForce?.());
    if (answer !== undefined) metrics.increment('trustgate_cache_requests_total', { result: 'hit' });
    return answer;
  }

  return {
    kind: 'cosign',
    known: knownAnswer,
    // `signal` is the caller's budget: it aborts the registry requests together with the
    // verifier's own deadline, whichever ends first.
    // With a cache: within the freshness window the recorded material answers (checked again
    // under this requirement) without the registry; past it the registry is read and the
    // recording replaced; when the registry is unavailable, a recording at most freshness +
    // max-stale old answers, marked stale. Exactly the Notary cache's rules.
    async verify(image: ImageReference, requirement: CosignRequirement, now: Date, signal?: AbortSignal, credentials?: RegistryCredentials): Promise<VerifiedImage> {
      const registry = credentials === undefined ? anonymous : anonymous.withCredentials(credentials);
      const authorities = requirement.authorities;
      if (authorities.length === 0 || requirement.threshold < 1 || requirement.threshold > authorities.length) {
        throw new TrustgateError(ErrorCode.POLICY_INVALID, `cosign threshold ${requirement.threshold} cannot be met by ${authorities.length} authorities`);
      }
      const tlog = requirement.tlog ?? 'auto';
      for (const authority of authorities) {
        if (isKeyAuthority(authority)) loadCosignKey(authority.publicKeyPem, authority.name);
        else if (tlog === 'off') throw new TrustgateError(ErrorCode.POLICY_INVALID, `keyless authority ${authority.name} cannot be checked with tlog: off`);
      }
      const nowMs = now.getTime();
      // Material read with the workload's credentials stays with those credentials.
      const partition = credentialFingerprint(credentials?.forRepository(image.registry, image.repository) ?? []);
      if (partition === '') {
        const known = knownAnswer(image, requirement, now);
        if (known !== undefined) return known;
      }
      const recalled = await recall(image, nowMs - freshnessMs, partition);
      const age = recalled === undefined ? undefined : nowMs - recalled.checkedAt;
      if (recalled !== undefined && age !== undefined && age >= 0 && age < freshnessMs) {
        const used: { root?: TrustedRootJson } = {};
        const fresh = await checkRecorded(recalled.material, requirement, tlog, signal, used);
        if (fresh !== undefined) {
          metrics.increment('trustgate_cache_requests_total', { result: 'hit' });
          if (partition === '') verdicts.remember(recalled.material, requirement, used.root, fresh);
          return fresh;
        }
      }
      if (cache !== undefined) metrics.increment('trustgate_cache_requests_total', { result: 'miss' });
      const read = reads.join(image, registry, partition, nowMs, freshnessMs, signal);
      let resolved: string | undefined;
      // An allowed verdict on what this read recorded, with the root it used: kept on the
      // material object the cache will hold (below), under the same rules as a re-check's.
      let verdict: VerifiedImage | undefined;
      const used: { root?: TrustedRootJson } = {};
      try {
        const digest = await read.digest();
        resolved = digest;
        verdict = await check(read.source(), digest, requirement, tlog, signal, used);
        return verdict;
      } catch (error) {
        if (isTrustgateError(error) && error.code === ErrorCode.REGISTRY_UNAVAILABLE) {
          // Nothing of an interrupted read is kept (registry-read-flights.ts): it would
          // replace a complete recording.
          // Security: stale material answers only for the digest the registry last named. When
          // it has just resolved the tag to another digest, whatever made the signature reads
          // fail (an outage, a hostile repository's slow signatures) must not pin the tag to
          // the image it named before.
          const sameDigest = resolved === undefined || recalled?.material.digest === resolved;
          if (recalled !== undefined && sameDigest && age !== undefined && age >= 0 && age < freshnessMs + maxStaleMs) {
            const stale = await checkRecorded(recalled.material, requirement, tlog, signal);
            if (stale !== undefined) {
              metrics.increment('trustgate_cache_requests_total', { result: 'stale' });
              deps.logger.warn('registry unavailable, serving cached cosign signatures', { image: `${image.registry}/${image.repository}`, digest: stale.digest, stale: true, ageMs: age, error: error.message });
              return { ...stale, stale: true };
            }
          }
        }
        throw error;
      } finally {
        // Security: the verdict is the offline check's on the kept material. The kept object
        // is a copy of everything the shared read recorded: every part this check read, as
        // it was answered (a read with an unanswered part is not kept at all), so checking
        // it again walks the same parts to the same signers. It is kept only for an
        // anonymous read (the memo is never used for pull-secret material).
        const answer = verdict;
        await read.leave(answer === undefined || partition !== '' ? undefined : (kept) => verdicts.remember(kept, requirement, used.root, answer));
      }
    },
  };
}

// Rethrows what ends the whole verification (a bug, the registry gone or too slow, the
// caller giving up); answers the error that makes only this signature not count.
function fatalOr(thrown: unknown, signal: AbortSignal | undefined): TrustgateError {
  const error = toTrustgateError(thrown);
  if (error.code === ErrorCode.INTERNAL) throw thrown;
  if (error.code === ErrorCode.REGISTRY_UNAVAILABLE || signal?.aborted === true) throw error;
  return error;
}

// The trusted root each authority is checked against (read once per verification, and only
// when some authority needs one).
async function rootsForImpl(
  source: TrustedRootSource,
  authorities: readonly CosignAuthority[],
  tlog: TlogMode,
  signal: AbortSignal | undefined,
): Promise<{ rootFor: (authority: CosignAuthority) => { root: TrustedRootJson; name: string }; shared: TrustedRootJson | undefined }> {
  const needed = authorities.some((authority) => !isKeyAuthority(authority) || tlog === 'required');
  const shared = needed ? await source.current(signal) : PUBLIC_GOOD_TRUSTED_ROOT;
  return {
    rootFor: (authority) =>
      !isKeyAuthority(authority) && authority.trustedRoot !== undefined
        ? { root: authority.trustedRoot, name: `trusted root of ${authority.name}` }
        : { root: shared, name: 'the Sigstore trusted root' },
    shared: needed ? shared : undefined,
  };
}

// A classic layer: its payload (read once) and annotations.
async function classicCandidate(source: SignatureSource, layer: SignatureLayer): Promise<Candidate> {
  const where = `signature ${layer.index} (${layer.digest})`;
  if (layer.mediaType !== MEDIA_TYPES.simpleSigning) {
    throw new TrustgateError(ErrorCode.COSIGN_PAYLOAD_INVALID, `${where} is not of media type ${MEDIA_TYPES.simpleSigning}`);
  }
  if (layer.signature === undefined || layer.signature.trim() === '') {
    throw new TrustgateError(ErrorCode.COSIGN_SIGNATURE_INVALID, `${where} has no base64 signature annotation`);
  }
  const signature = layer.signature;
  const payload = await source.fetchPayload(layer);
  const parts = {
    payload,
    signature,
    ...(layer.certificate === undefined ? {} : { certificate: layer.certificate }),
    ...(layer.chain === undefined ? {} : { chain: layer.chain }),
    ...(layer.rekorBundle === undefined ? {} : { rekorBundle: layer.rekorBundle }),
    ...(layer.rfc3161Timestamp === undefined ? {} : { rfc3161Timestamp: layer.rfc3161Timestamp }),
  };
  return {
    where,
    artifact: payload,
    bundleFor: (keyed, withLog) => classicToBundle(parts, keyed, withLog),
    checkClaim: (digest) => void checkPayload(payload, digest),
  };
}

// A v3 bundle referrer: its bundle, read once.
async function bundleCandidate(source: SignatureSource, referrer: BundleReferrer): Promise<Candidate> {
  const where = `bundle ${referrer.index} (${referrer.digest})`;
  try {
    const bundle = await source.fetchBundle(referrer);
    return { where, bundleFor: () => bundle, checkClaim: (claimed) => checkSignatureEnvelope(bundle, claimed) };
  } catch (thrown) {
    if (!isTrustgateError(thrown)) throw thrown;
    const error = thrown;
    if (error.code === ErrorCode.REGISTRY_UNAVAILABLE || error.code === ErrorCode.INTERNAL) throw thrown;
    throw new TrustgateError(error.code, `${where}: ${error.message}`, { cause: error });
  }
}

// One signature against the authorities: answers an edge for each authority it satisfies
// (with the signer's labels and the identity it names), or throws the reason it counts for
// none.
async function checkCandidate(
  candidate: Candidate,
  authorities: readonly CosignAuthority[],
  digest: string,
  tlog: TlogMode,
  rootFor: (authority: CosignAuthority) => { root: TrustedRootJson; name: string },
): Promise<readonly SignerEdge[]> {
  const sigstore = await loadSigstore();
  const edges: SignerEdge[] = [];
  const failures: TrustgateError[] = [];
  authorities.forEach((authority, index) => {
    const keyed = isKeyAuthority(authority);
    const { root, name } = rootFor(authority);
    try {
      const bundle = candidate.bundleFor(keyed, usesTransparencyLog(keyed, tlog));
      const signer = sigstore.checkBundle({ bundle, ...(candidate.artifact === undefined ? {} : { artifact: candidate.artifact }), authority, trustedRoot: root, rootName: name, tlog });
      const certified = signer.subject === undefined || signer.issuer === undefined ? undefined : { issuer: signer.issuer, subject: signer.subject };
      edges.push({
        authority: index,
        labels: [keyLabel(signer.keyId), ...(certified === undefined ? [] : [identityLabel(certified.issuer, certified.subject)])],
        detail: certified === undefined ? '' : ` (${certified.subject} from ${certified.issuer})`,
      });
    } catch (thrown) {
      const error = toTrustgateError(thrown);
      if (error.code === ErrorCode.INTERNAL || error.code === ErrorCode.POLICY_INVALID) throw thrown;
      failures.push(new TrustgateError(error.code, `${authority.name}: ${error.message}`, { cause: error }));
    }
  });
  if (edges.length === 0) {
    const codes = [...new Set(failures.map((failure) => failure.code))];
    const code = codes.length === 1 && codes[0] !== undefined ? codes[0] : ErrorCode.COSIGN_SIGNATURE_INVALID;
    throw new TrustgateError(code, `${candidate.where} is not valid for ${failures.map((failure) => failure.message).join('; ')}`);
  }
  try {
    candidate.checkClaim(digest);
  } catch (thrown) {
    const error = toTrustgateError(thrown);
    const by = edges.map((edge) => authorities[edge.authority]?.name ?? '').join(', ');
    throw new TrustgateError(error.code, `${candidate.where} by ${by}: ${error.message}`, { cause: error });
  }
  return edges;
}

// The denial: every skipped signature's reason in one message; the code is theirs when they
// agree (a wrong key: COSIGN_SIGNATURE_INVALID; a copied signature: COSIGN_DIGEST_MISMATCH).
// When some authority is satisfied the code is COSIGN_THRESHOLD_NOT_MET, and each authority
// satisfied only by a signer already counted for another one says so.
function notVerified(requirement: CosignRequirement, outcomes: readonly AuthorityOutcome[], count: number, reasons: readonly TrustgateError[]): TrustgateError {
  const authorities = requirement.authorities;
  const assigned = outcomes.filter((outcome) => outcome.kind === 'assigned').length;
  const satisfied = outcomes.filter((outcome) => outcome.kind !== 'unsatisfied').length;
  const shared = outcomes.flatMap((outcome, index) =>
    outcome.kind === 'shared'
      ? [new TrustgateError(ErrorCode.COSIGN_THRESHOLD_NOT_MET, `${authorities[index]?.name ?? ''}: satisfied only by the signer already counted for ${authorities[outcome.with]?.name ?? ''} (a signer counts for one authority)`)]
      : [],
  );
  const codes = [...new Set(reasons.map((reason) => reason.code))];
  const only = codes.length === 1 ? codes[0] : undefined;
  const code = satisfied > 0 ? ErrorCode.COSIGN_THRESHOLD_NOT_MET : (only ?? ErrorCode.COSIGN_SIGNATURE_INVALID);
  const need = `${requirement.threshold} of ${authorities.length} cosign authorities, each by a distinct signer`;
  const detail = [...shared, ...reasons].map((reason) => `[${reason.code}] ${reason.message}`).join('; ');
  return new TrustgateError(code, `cosign: ${assigned} distinct signers for ${satisfied} satisfied authorities from ${count} signatures, need ${need}${detail === '' ? '' : `: ${detail}`}`);
}

// For sign-callback: the subject of a manifest pushed to `registryHost`, read from the registry
// (anonymously, within one deadline), so a pushed v3 bundle refreshes its image's record.
export function createReferrerSubjectReader(fetch: Fetch, registryHost: string, nowMs: () => number): (repository: string, digest: string) => Promise<string | undefined> {
  const registry = createRegistryClient({ fetch, tokens: createTokenAuth({ fetch, timeoutMs: 10_000, now: nowMs }), limits: DEFAULT_REGISTRY_LIMITS });
  return (repository, digest) =>
    registry.readSubject({ registry: registryHost, repository, digest }, digest, startDeadline(DEFAULT_COSIGN_DEADLINE_MS));
}
