// Where Sigstore's trusted root comes from: the Fulcio certificate authorities, Rekor
// transparency-log keys, certificate-transparency log keys and timestamp authorities that
// keyless (and transparency-logged) signatures are checked against. The JSON is Sigstore's
// `trusted_root.json` (media type application/vnd.dev.sigstore.trustedroot+json;version=0.1).
import publicGoodTrustedRoot from './public-good-trusted-root.json' with { type: 'json' };

// Parsed `trusted_root.json`, as Sigstore publishes it; its meaning is checked by the
// verifier that consumes it (a root is data, not yet trust, until a source vouches for it).
export type TrustedRootJson = Readonly<Record<string, unknown>>;

export interface TrustedRootSource {
  // The newest trusted root this source vouches for. Never rejects for a failed refresh:
  // a source keeps serving its last good root and reports the failure itself.
  current(signal?: AbortSignal): Promise<TrustedRootJson>;
  // The root `current` would answer now when it needs no waiting (no store read or refresh
  // due), without starting anything; absent or undefined when unknown. Lets a kept cosign
  // verdict be given only while the root it was checked under is still the one in force.
  inForce?(): TrustedRootJson | undefined;
}

// Sigstore's public-good trusted root as shipped with the product, so verification works
// offline from the first request.
export const PUBLIC_GOOD_TRUSTED_ROOT: TrustedRootJson = publicGoodTrustedRoot;

// A source that always answers the same root (the shipped one, or one from a Secret).
export function staticTrustedRootSource(root: TrustedRootJson): TrustedRootSource {
  return { current: () => Promise.resolve(root), inForce: () => root };
}
