// Cosign verdicts kept in process, so a warm admission is answered without checking the
// signatures again (the verifier's `known`, asked by admission before anything async).
//
// A verdict is a pure function of its inputs: the signature material (the bytes the
// registry answered for one image digest), the requirement (authorities: each key's PEM, each
// keyless identity's issuer and subject, a private trusted root; the threshold; the
// transparency-log mode, which decides whether Rekor entries and RFC 3161 timestamps are
// required) and the Sigstore trusted root in force when an authority needs it. It does not
// depend on the time of day: certificate validity, log entries and timestamps are judged at
// the signed time (the log's integrated time or the timestamp authority's), never at `now`;
// `now` only decides whether the material is still fresh enough to be used at all. So giving
// a kept verdict again is equivalent to running the check again exactly when every input is
// the same:
// - material: kept per material object, the one the signature cache holds for the digest.
//   An object is never changed once cached (a read records into its own object; what the
//   cache keeps is a copy), so the same object is the same bytes; any new reading (the
//   freshness window passed, a sign-callback refresh after a signature push, another
//   process's newer entry) is another object, and its verdicts start empty. The verifier
//   asks the cache for its current object (and its freshness, by the caller's clock) on
//   every use;
// - requirement: keyed by the requirement's content (below), so another key, identity,
//   issuer, private root, threshold or log mode misses at once, whichever policy set it came
//   from;
// - trusted root: a verdict that used the source's root is given only while that very root
//   object is still the one in force; one checked without it needs none.
// A verdict is kept by the verification that read the registry (on the very copy the cache
// keeps, and only when the read is kept: complete, every part it checked answered) and by
// each re-check of recorded material, so the second admission of an image is answered here.
// Only allowed verdicts are kept (a denial is always re-checked), only for material read
// anonymously, and never stale ones. A request with pull-secret credentials for the image's
// repository is never answered here (the verifier's `known` refuses it): its verdict comes
// from material read with those credentials.
// Bounded: a few requirements per material object, and material objects are held only
// weakly (the signature cache's own bounds decide how many live).
import { createHash } from 'node:crypto';
import { createBoundedMemo, type BoundedMemo } from '../../cache/bounded-memo.js';
import type { TrustedRootJson } from '../sigstore/trusted-root-source.js';
import { isKeyAuthority, type CosignRequirement, type VerifiedImage } from '../verifier.js';
import type { SignatureMaterial } from './signature-material.js';

// Requirements kept per material object (policies that ask for one image under different
// authorities are few).
const REQUIREMENTS_PER_MATERIAL = 16;

export interface CosignVerdictMemo {
  // The verdict kept for `material` under `requirement`, when the root it used (if any) is
  // `rootInForce`; undefined otherwise.
  answer(material: SignatureMaterial, requirement: CosignRequirement, rootInForce: TrustedRootJson | undefined): VerifiedImage | undefined;
  // Keeps an allowed, fresh verdict; `root`: the source's root it was checked under, or
  // undefined when no authority needed it.
  remember(material: SignatureMaterial, requirement: CosignRequirement, root: TrustedRootJson | undefined, answer: VerifiedImage): void;
}

interface KeptVerdict {
  readonly root: TrustedRootJson | undefined;
  readonly answer: VerifiedImage;
}

export function createCosignVerdictMemo(): CosignVerdictMemo {
  const byMaterial = new WeakMap<SignatureMaterial, BoundedMemo<string, KeptVerdict>>();
  return {
    answer(material, requirement, rootInForce) {
      const kept = byMaterial.get(material)?.get(requirementKey(requirement));
      if (kept === undefined) return undefined;
      if (kept.root !== undefined && kept.root !== rootInForce) return undefined;
      return kept.answer;
    },
    remember(material, requirement, root, answer) {
      if (answer.stale === true) return;
      let verdicts = byMaterial.get(material);
      if (verdicts === undefined) {
        verdicts = createBoundedMemo<string, KeptVerdict>(REQUIREMENTS_PER_MATERIAL);
        byMaterial.set(material, verdicts);
      }
      verdicts.set(requirementKey(requirement), { root, answer });
    },
  };
}

const KEYS = new WeakMap<CosignRequirement, string>();

// The requirement's content as one digest, computed once per requirement object: every field
// the check reads (authority names too: they are in the answer's signers).
export function requirementKey(requirement: CosignRequirement): string {
  let key = KEYS.get(requirement);
  if (key === undefined) {
    const authorities = requirement.authorities.map((authority) =>
      isKeyAuthority(authority)
        ? ['key', authority.name, authority.publicKeyPem]
        : [
            'keyless',
            authority.name,
            authority.identities.map((identity) => [identity.issuer ?? null, identity.issuerRegExp ?? null, identity.subject ?? null, identity.subjectRegExp ?? null]),
            authority.trustedRoot === undefined ? null : JSON.stringify(authority.trustedRoot),
          ],
    );
    key = createHash('sha256')
      .update(JSON.stringify([requirement.threshold, requirement.tlog ?? 'auto', authorities]))
      .digest('base64url');
    KEYS.set(requirement, key);
  }
  return key;
}
