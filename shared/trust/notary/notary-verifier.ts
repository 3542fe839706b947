// The Notary v1 ImageVerifier: bring the repository's metadata up to date from the trust
// server (full TUF verification against the last trusted state), resolve the image under
// Docker Content Trust's rules and the required signers, and persist what is now trusted.
import { toNotaryGun, type ImageReference } from '../../image/reference.js';
import type { Fetch, Logger } from '../../ports.js';
import type { TokenProvider } from '../../registry/token-auth.js';
import type { ImageVerifier, NotaryRequirement, VerifiedImage } from '../verifier.js';
import { createNotaryHttpSource } from './http-source.js';
import type { SizeLimits } from './model.js';
import { resolveSignedDigest } from './resolve.js';
import { selectTrustServer } from './trust-servers.js';
import type { TrustedStateStore } from './trusted-state-store.js';
import { updateRepository } from './update.js';

export interface NotaryVerifierDeps {
  readonly fetch: Fetch;
  readonly state: TrustedStateStore;
  readonly logger: Logger;
  readonly tokens?: TokenProvider;
  readonly limits?: SizeLimits;
  readonly timeoutMs?: number;
}

export function createNotaryVerifier(deps: NotaryVerifierDeps): ImageVerifier<NotaryRequirement> {
  return {
    kind: 'notary',
    async verify(image: ImageReference, requirement: NotaryRequirement, now: Date): Promise<VerifiedImage> {
      const server = selectTrustServer(image.registry, requirement.server);
      const gun = toNotaryGun(image);
      const trusted = await deps.state.load(server, gun);
      const source = createNotaryHttpSource({
        serverUrl: server,
        gun,
        fetch: deps.fetch,
        ...(deps.tokens ? { tokens: deps.tokens } : {}),
        ...(deps.timeoutMs === undefined ? {} : { timeoutMs: deps.timeoutMs }),
      });
      const repository = await updateRepository({
        gun,
        source,
        trusted,
        pinnedRootKeyIds: requirement.rootKeyIds,
        now,
        ...(deps.limits ? { limits: deps.limits } : {}),
      });
      try {
        return await resolveSignedDigest(repository, {
          ...(image.tag === undefined ? {} : { tag: image.tag }),
          ...(image.digest === undefined ? {} : { digest: image.digest }),
          signers: requirement.signers,
        });
      } finally {
        // Everything in the repository object has been verified, so it is what we now
        // trust, whatever the resolution says. Losing the write costs rollback protection
        // for the next process, not correctness of this answer: log, don't fail.
        await deps.state.save(server, gun, repository.trustedMetadata()).catch((error: unknown) => {
          deps.logger.warn('trusted state not saved', { gun, server, error: (error as Error).message });
        });
      }
    },
  };
}
