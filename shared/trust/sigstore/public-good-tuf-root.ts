// The TUF root of Sigstore's public-good repository (tuf-repo-cdn.sigstore.dev, root version
// 14), shipped so a refresh from a mirror of that repository starts from a root the product
// vouches for rather than one the mirror serves. Its signed expiry has passed: TUF accepts an
// expired trusted root as the start of an update (client workflow 5.2) and requires the
// mirror to serve every newer version, each signed by a threshold of the previous one's keys.
import publicGoodTufRoot from './public-good-tuf-root.json' with { type: 'json' };

// The bytes tuf-js is handed. Signatures cover the canonical form of `signed`, so
// re-serialising the shipped document keeps them valid.
export const PUBLIC_GOOD_TUF_ROOT: Uint8Array = new TextEncoder().encode(JSON.stringify(publicGoodTufRoot));
