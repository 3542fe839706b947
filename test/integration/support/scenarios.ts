// Repository situations built with the real notary client, each returning the digests a
// correct verifier must (or must not) accept. Targets are random digests and sizes:
// Notary signs a digest, so no registry or image is needed.
import { randomBytes, randomInt } from 'node:crypto';
import { createDelegateKey, type DelegateKey, type DelegateKeyForm } from './delegate-keys.js';
import type { NotaryCli } from './notary-cli.js';

export interface TargetDigest {
  readonly digestHex: string;
  readonly size: number;
}

export interface DelegatedSigner {
  readonly role: string;
  readonly key: DelegateKey;
  // Key IDs Notary assigned to the key in the delegation.
  readonly keyIds: readonly string[];
}

// Registry host used in image names; the trust server is always given separately.
export const REGISTRY_HOST = 'registry.test:5000';

export function randomTarget(): TargetDigest {
  return { digestHex: randomBytes(32).toString('hex'), size: randomInt(200, 50_000) };
}

// A GUN no other test uses, so tests can share one server.
export function uniqueGun(label: string): string {
  return `${REGISTRY_HOST}/it/${label}-${randomBytes(4).toString('hex')}`;
}

export class Scenarios {
  constructor(
    readonly cli: NotaryCli,
    // Where delegate keys are written.
    readonly keysDir: string,
  ) {}

  // A tag signed by the repository's own targets key.
  async signedInTargets(gun: string, tag: string): Promise<TargetDigest> {
    const target = randomTarget();
    await this.cli.init(gun);
    await this.cli.addHash(gun, tag, target.size, target.digestHex);
    await this.cli.publish(gun);
    return target;
  }

  // A tag signed only in targets/releases, as `docker trust sign` does.
  async signedInReleases(gun: string, tag: string): Promise<TargetDigest & { releases: DelegatedSigner }> {
    const target = randomTarget();
    await this.cli.init(gun);
    const releases = await this.delegate(gun, 'targets/releases');
    await this.cli.addHash(gun, tag, target.size, target.digestHex, { roles: ['targets/releases'] });
    await this.cli.publish(gun);
    return { ...target, releases };
  }

  // The same tag with one digest in targets and another in targets/releases: Docker
  // Content Trust takes the releases one; plain `notary lookup` shows the targets one.
  async releasesAndTargetsDisagree(gun: string, tag: string): Promise<{ targets: TargetDigest; releases: TargetDigest }> {
    const targets = randomTarget();
    const releases = randomTarget();
    await this.cli.init(gun);
    await this.delegate(gun, 'targets/releases');
    await this.cli.addHash(gun, tag, targets.size, targets.digestHex);
    await this.cli.addHash(gun, tag, releases.size, releases.digestHex, { roles: ['targets/releases'] });
    await this.cli.publish(gun);
    return { targets, releases };
  }

  // A tag signed only by a named delegation (e.g. targets/alice): no trust data under the
  // Docker rule, but signed for a policy that names that signer.
  async signedByDelegationOnly(gun: string, tag: string, role: string): Promise<TargetDigest & { signer: DelegatedSigner }> {
    const target = randomTarget();
    await this.cli.init(gun);
    const signer = await this.delegate(gun, role);
    await this.cli.addHash(gun, tag, target.size, target.digestHex, { roles: [role] });
    await this.cli.publish(gun);
    return { ...target, signer };
  }

  // Two named delegations, targets/alice and targets/bob. Alice always signs the tag; bob
  // signs the same digest, another digest, or nothing.
  async signedByTwoSigners(
    gun: string,
    tag: string,
    bobSigns: 'same' | 'different' | 'nothing',
  ): Promise<{ target: TargetDigest; bobTarget?: TargetDigest; alice: DelegatedSigner; bob: DelegatedSigner }> {
    const target = randomTarget();
    await this.cli.init(gun);
    const alice = await this.delegate(gun, 'targets/alice');
    const bob = await this.delegate(gun, 'targets/bob');
    await this.cli.addHash(gun, tag, target.size, target.digestHex, { roles: ['targets/alice'] });
    const bobTarget = bobSigns === 'different' ? randomTarget() : bobSigns === 'same' ? target : undefined;
    if (bobTarget !== undefined) {
      await this.cli.addHash(gun, tag, bobTarget.size, bobTarget.digestHex, { roles: ['targets/bob'] });
    } else {
      // Bob's delegation needs content to be published: he signs some other tag.
      const other = randomTarget();
      await this.cli.addHash(gun, `${tag}-other`, other.size, other.digestHex, { roles: ['targets/bob'] });
    }
    await this.cli.publish(gun);
    return { target, ...(bobTarget === undefined ? {} : { bobTarget }), alice, bob };
  }

  // Re-signs a tag in the given roles (targets when none) with a new digest (random unless
  // given) and publishes.
  async resign(gun: string, tag: string, roles: readonly string[] = [], target: TargetDigest = randomTarget()): Promise<TargetDigest> {
    await this.cli.addHash(gun, tag, target.size, target.digestHex, { roles });
    await this.cli.publish(gun);
    return target;
  }

  // Rotates the root key (the new root is cross-signed by the old key) and returns the
  // root key IDs before and after.
  async rotateRoot(gun: string): Promise<{ before: string[]; after: string[] }> {
    const before = await this.cli.rootKeyIds(gun);
    await this.cli.rotateRootKey(gun);
    // Refresh the client's cached root so rootKeyIds reads the new one.
    await this.cli.list(gun);
    return { before, after: await this.cli.rootKeyIds(gun) };
  }

  // Replaces a delegation's key: adds a new key, removes the old key IDs, and re-signs
  // `tag` with the new key only.
  async rotateDelegationKey(gun: string, tag: string, old: DelegatedSigner): Promise<TargetDigest & { signer: DelegatedSigner }> {
    const signer = await this.delegate(gun, old.role);
    for (const keyId of old.keyIds) await this.cli.removeDelegationKey(gun, old.role, keyId);
    const target = await this.resign(gun, tag, [old.role]);
    return { ...target, signer };
  }

  // Creates a delegate key, stages the delegation with all paths and imports the key.
  async delegate(gun: string, role: string, form: DelegateKeyForm = 'x509'): Promise<DelegatedSigner> {
    const key = await createDelegateKey(this.keysDir, role.replace(/^targets\//, '').replaceAll('/', '-'), form);
    const keyIds = await this.cli.addDelegation(gun, role, key.delegationFile, { allPaths: true });
    await this.cli.importKey(key.privateKeyFile, role);
    return { role, key, keyIds };
  }
}
