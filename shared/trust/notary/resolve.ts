// Docker Content Trust resolution over a verified repository: which digest a tag (or a
// pinned digest) is trusted to be, under Docker's role rules or under required signers
// (Portieris signer secrets). Pure: every document it reads is already verified.
import { ErrorCode, TrustgateError, isTrustgateError } from '../../errors.js';
import { isDelegationName } from './decode.js';
import { publicKeyFromPem, sameSpki } from './keys.js';
import type { FileMeta, RoleName } from './model.js';
import { isSignedBySpki } from './signatures.js';
import type { VerifiedDelegation, VerifiedRepository } from './update.js';

// name 'alice' means role 'targets/alice'; 'targets/alice' is accepted too.
export interface SignerRequirement {
  readonly name: string;
  readonly publicKeyPem: string;
}

export interface ResolveRequest {
  readonly tag?: string;
  readonly digest?: string;
  readonly signers: readonly SignerRequirement[];
}

export interface Resolution {
  // 'sha256:<hex>' from the target's sha256 hash.
  readonly digest: string;
  // Roles that signed it.
  readonly signers: readonly RoleName[];
}

const TARGETS = 'targets';
const RELEASES = 'targets/releases';
const DIGEST = /^sha256:[0-9a-f]{64}$/;

// The targets one role vouches for, restricted to the names it may sign.
interface TargetSource {
  readonly role: RoleName;
  target(name: string): FileMeta | undefined;
  targetNames(): Iterable<string>;
}

function topLevelSource(repo: VerifiedRepository): TargetSource {
  const targets = repo.targets.signed.targets;
  return { role: TARGETS, target: (name) => targets.get(name), targetNames: () => targets.keys() };
}

// A delegation's own targets, minus every name outside its (and its ancestors') paths:
// those are ignored, not trusted (TUF spec 5.6.7.2, Notary's path restriction).
function delegationSource(delegation: VerifiedDelegation): TargetSource {
  const targets = delegation.envelope.signed.targets;
  return {
    role: delegation.name,
    target: (name) => (delegation.allowsTarget(name) ? targets.get(name) : undefined),
    targetNames: () => [...targets.keys()].filter((name) => delegation.allowsTarget(name)),
  };
}

// 'sha256:<hex>' of a target, or undefined when it has no 32-byte sha256 (unusable: the
// image digest could not be pinned by it).
function digestOf(meta: FileMeta): string | undefined {
  const sha256 = meta.hashes.get('sha256');
  return sha256 !== undefined && sha256.length === 32 ? `sha256:${Buffer.from(sha256).toString('hex')}` : undefined;
}

function hasDigest(source: TargetSource, digest: string): boolean {
  for (const name of source.targetNames()) {
    const meta = source.target(name);
    if (meta !== undefined && digestOf(meta) === digest) return true;
  }
  return false;
}

function noSignedTarget(gun: string, detail: string): TrustgateError {
  return new TrustgateError(ErrorCode.TRUST_NO_SIGNED_TARGET, `no trust data for ${gun}: ${detail}`);
}

// Resolves the request to the digest trusted signers signed. Without signers, Docker's rule:
// targets/releases, then targets. With signers, every one must have signed the same digest.
// A pinned digest must equal the tag's digest, or (without a tag) be signed outright.
export async function resolveSignedDigest(repo: VerifiedRepository, request: ResolveRequest): Promise<Resolution> {
  const { tag, digest } = request;
  if (digest !== undefined && !DIGEST.test(digest)) {
    throw new TrustgateError(ErrorCode.REQUEST_INVALID, `image digest: expected sha256:<64 lower-case hex>, got ${JSON.stringify(digest.slice(0, 80))}`);
  }
  if (tag === undefined && digest === undefined) {
    throw new TrustgateError(ErrorCode.REQUEST_INVALID, `image of ${repo.gun}: expected a tag or a digest, got neither`);
  }
  const resolution = request.signers.length > 0 ? await resolveWithSigners(repo, request.signers, tag, digest) : await resolveByDockerRule(repo, tag, digest);
  if (digest !== undefined && resolution.digest !== digest) {
    throw new TrustgateError(
      ErrorCode.TRUST_DIGEST_MISMATCH,
      `tag ${tag ?? ''} of ${repo.gun} is signed for another digest: expected ${digest}, got ${resolution.digest}`,
    );
  }
  return resolution;
}

// Docker's pull rule (docker cli GetTargetByName(tag, releases, targets) then a role check):
// the walk from targets/releases stops at the first role in its subtree holding the tag, and
// only releases itself or top-level targets count. A tag found first in a role nested under
// releases is refused even if targets has it, as Docker does: fail closed.
async function resolveByDockerRule(repo: VerifiedRepository, tag: string | undefined, digest: string | undefined): Promise<Resolution> {
  const releasesDelegation = await repo.delegation(RELEASES);
  const trusted = [...(releasesDelegation ? [delegationSource(releasesDelegation)] : []), topLevelSource(repo)];
  if (tag === undefined) {
    const signers = trusted.filter((source) => hasDigest(source, digest ?? '')).map((source) => source.role);
    if (signers.length === 0) throw noSignedTarget(repo.gun, `no target of targets/releases or targets has digest ${digest ?? ''}`);
    return { digest: digest ?? '', signers };
  }
  const found = await findDockerTarget(repo, releasesDelegation, tag);
  const resolved = digestOf(found.meta);
  if (resolved === undefined) throw noSignedTarget(repo.gun, `tag ${tag} in ${found.role} has no usable sha256`);
  return { digest: resolved, signers: [found.role] };
}

async function findDockerTarget(
  repo: VerifiedRepository,
  releasesDelegation: VerifiedDelegation | undefined,
  tag: string,
): Promise<{ role: RoleName; meta: FileMeta }> {
  if (releasesDelegation !== undefined) {
    const meta = delegationSource(releasesDelegation).target(tag);
    if (meta !== undefined) return { role: RELEASES, meta };
    const nested = await firstRoleWithTag(repo, RELEASES, tag);
    if (nested !== undefined) {
      throw noSignedTarget(repo.gun, `tag ${tag} is signed by ${nested}, not by targets/releases or targets`);
    }
  }
  const meta = repo.targets.signed.targets.get(tag);
  if (meta !== undefined) return { role: TARGETS, meta };
  const elsewhere = await firstRoleWithTag(repo, TARGETS, tag).catch((error: unknown) => {
    // Only used to explain the refusal; a broken unrelated delegation must not change it.
    if (isTrustgateError(error)) return undefined;
    throw error;
  });
  throw noSignedTarget(
    repo.gun,
    elsewhere === undefined ? `tag ${tag} is not signed` : `tag ${tag} is signed by ${elsewhere}, not by targets/releases or targets`,
  );
}

// The first delegation below `parent` (pre-order, as Notary walks) whose own allowed targets
// include `tag`. Role names strictly lengthen downwards, so the walk ends; the per-update
// delegation cap bounds its cost.
async function firstRoleWithTag(repo: VerifiedRepository, parent: RoleName, tag: string): Promise<RoleName | undefined> {
  for (const child of await repo.childRoles(parent)) {
    const delegation = await repo.delegation(child);
    if (delegation === undefined) continue;
    if (delegationSource(delegation).target(tag) !== undefined) return child;
    const deeper = await firstRoleWithTag(repo, child, tag);
    if (deeper !== undefined) return deeper;
  }
  return undefined;
}

// Signer pinning (Portieris signerSecrets): each named role must exist as a verified
// delegation, list the given public key, carry a valid signature by THAT key (a threshold met
// by other keys of the role is not enough), and have signed the tag; all must agree.
async function resolveWithSigners(
  repo: VerifiedRepository,
  signers: readonly SignerRequirement[],
  tag: string | undefined,
  digest: string | undefined,
): Promise<Resolution> {
  const delegations: VerifiedDelegation[] = [];
  for (const signer of signers) delegations.push(await verifySigner(repo, signer));
  const roles = delegations.map((delegation) => delegation.name);
  if (tag === undefined) {
    const missing = delegations.find((delegation) => !hasDigest(delegationSource(delegation), digest ?? ''));
    if (missing !== undefined) throw noSignedTarget(repo.gun, `signer ${missing.name} has not signed digest ${digest ?? ''}`);
    return { digest: digest ?? '', signers: roles };
  }
  const digests = delegations.map((delegation) => {
    const meta = delegationSource(delegation).target(tag);
    if (meta === undefined) {
      throw new TrustgateError(ErrorCode.TRUST_SIGNER_MISSING, `signer ${delegation.name} has not signed tag ${tag} of ${repo.gun}`);
    }
    const resolved = digestOf(meta);
    if (resolved === undefined) throw noSignedTarget(repo.gun, `tag ${tag} in ${delegation.name} has no usable sha256`);
    return resolved;
  });
  const [first, ...rest] = digests;
  const disagreeing = rest.find((other) => other !== first);
  if (first === undefined) throw new TrustgateError(ErrorCode.INTERNAL, 'signer resolution produced no digest');
  if (disagreeing !== undefined) {
    throw new TrustgateError(
      ErrorCode.TRUST_DIGEST_MISMATCH,
      `signers of tag ${tag} of ${repo.gun} disagree: expected one digest, got ${first} and ${disagreeing}`,
    );
  }
  return { digest: first, signers: roles };
}

async function verifySigner(repo: VerifiedRepository, signer: SignerRequirement): Promise<VerifiedDelegation> {
  const role = signer.name.startsWith(`${TARGETS}/`) ? signer.name : `${TARGETS}/${signer.name}`;
  if (!isDelegationName(role)) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `signer name: expected a delegation name like "alice", got ${JSON.stringify(signer.name.slice(0, 80))}`);
  }
  const { spki } = publicKeyFromPem(signer.publicKeyPem);
  const delegation = await repo.delegation(role);
  if (delegation === undefined) {
    throw new TrustgateError(ErrorCode.TRUST_SIGNER_MISSING, `signer ${role} of ${repo.gun}: expected a delegation, got none`);
  }
  if (![...delegation.keys.values()].some((key) => sameSpki(key.spki, spki))) {
    throw new TrustgateError(ErrorCode.TRUST_SIGNER_MISSING, `signer ${role} of ${repo.gun}: expected the configured public key among the role's keys, got other keys`);
  }
  if (!isSignedByConfiguredKey(delegation, spki)) {
    throw new TrustgateError(ErrorCode.TRUST_SIGNER_MISSING, `signer ${role} of ${repo.gun}: expected a signature by the configured key, got none`);
  }
  return delegation;
}

// Whether a verified delegation carries a valid signature by the key with this SPKI, checked
// once per (delegation, key): the delegation object is immutable once verified and is reused
// for as long as its repository is memoised, so the answer cannot change.
const signedByConfiguredKey = new WeakMap<VerifiedDelegation, Map<string, boolean>>();

function isSignedByConfiguredKey(delegation: VerifiedDelegation, spki: Uint8Array): boolean {
  let answers = signedByConfiguredKey.get(delegation);
  if (answers === undefined) {
    answers = new Map();
    signedByConfiguredKey.set(delegation, answers);
  }
  const id = Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength).toString('base64');
  let signed = answers.get(id);
  if (signed === undefined) {
    signed = isSignedBySpki(delegation.envelope, delegation.keys, spki);
    answers.set(id, signed);
  }
  return signed;
}
