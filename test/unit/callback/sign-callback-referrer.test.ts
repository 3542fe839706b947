// sign-callback and cosign v3 bundles: a manifest pushed by digest whose subject (read from the
// registry) is an image is the signing of that image, as a push at its `.sig` tag is; the
// referrers tag `sha256-<hex>` is decoded the same way. The image's record is refreshed.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { handleSignCallback, readSignStatus, type SignCallbackDeps } from '../../../shared/callback/sign-callback.js';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import type { CosignRequirement, ImageVerifier } from '../../../shared/trust/verifier.js';
import { CALLBACK_REGISTRY_HOST as HOST, cosignKeyPolicies, ociManifestPush, signCallbackDeps } from '../../support/sign-callback-deps.js';

const IMAGE = `sha256:${'ab'.repeat(32)}`;
const ARTIFACT = `sha256:${'cd'.repeat(32)}`;
const KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString().trim();

const POLICIES = cosignKeyPolicies(KEY);

function depsWith(subjects: Readonly<Record<string, string>>, asked: string[]): SignCallbackDeps {
  // A cosign verifier that finds the image signed at IMAGE (and only there).
  const cosign: ImageVerifier<CosignRequirement> = {
    kind: 'cosign',
    verify: (image) => {
      asked.push(`${image.repository}@${image.digest ?? image.tag ?? ''}`);
      return image.digest === IMAGE ? Promise.resolve({ digest: IMAGE, signers: ['cosign:key/release-key'] }) : Promise.reject(new TrustgateError(ErrorCode.COSIGN_SIGNATURE_MISSING, 'none'));
    },
  };
  return signCallbackDeps({ policies: POLICIES, cosign, referrerSubject: (repository, digest) => Promise.resolve(subjects[`${repository}@${digest}`]) });
}

const pushByDigest = (digest: string, tag?: string) => ociManifestPush(`e-${digest}-${tag ?? ''}`, digest, tag);

describe('sign-callback with cosign v3 bundles', () => {
  it('treats a pushed referrer whose subject is an image as the signing of that image', async () => {
    const asked: string[] = [];
    const deps = depsWith({ [`lab/app@${ARTIFACT}`]: IMAGE }, asked);
    const result = await handleSignCallback(deps, pushByDigest(ARTIFACT));
    expect(result.outcomes).toEqual([{ id: `e-${ARTIFACT}-`, outcome: 'signed' }]);
    expect(asked).toEqual([`lab/app@${IMAGE}`]);
    expect(await readSignStatus(deps.store, `${HOST}/lab/app`, IMAGE)).toMatchObject({ status: 'signed', digest: IMAGE, tag: null });
    expect(await readSignStatus(deps.store, `${HOST}/lab/app`, ARTIFACT)).toBeUndefined();
  });

  it('treats a manifest pushed by digest without a subject as an image push', async () => {
    const asked: string[] = [];
    const deps = depsWith({}, asked);
    await handleSignCallback(deps, pushByDigest(ARTIFACT));
    expect(asked).toEqual([`lab/app@${ARTIFACT}`]);
    expect(await readSignStatus(deps.store, `${HOST}/lab/app`, ARTIFACT)).toMatchObject({ status: 'unsigned' });
  });

  it('decodes a push at the referrers tag as the signing of the image it names', async () => {
    const asked: string[] = [];
    const deps = depsWith({}, asked);
    const result = await handleSignCallback(deps, pushByDigest(ARTIFACT, IMAGE.replace(':', '-')));
    expect(result.outcomes[0]?.outcome).toBe('signed');
    expect(await readSignStatus(deps.store, `${HOST}/lab/app`, IMAGE)).toMatchObject({ status: 'signed' });
  });
});

describe('sign-callback and a signature tag the registry links after announcing it', () => {
  it('checks a signature push found unsigned again after a pause, and records it signed once the tag resolves', async () => {
    let linked = false;
    let nowMs = Date.parse('2026-11-27T08:00:00Z');
    const pauses: number[] = [];
    const cosign: ImageVerifier<CosignRequirement> = {
      kind: 'cosign',
      verify: (image) => (linked && image.digest === IMAGE ? Promise.resolve({ digest: IMAGE, signers: ['cosign:key/release-key'] }) : Promise.reject(new TrustgateError(ErrorCode.COSIGN_SIGNATURE_MISSING, 'none'))),
    };
    const deps: SignCallbackDeps = {
      ...signCallbackDeps({ policies: POLICIES, cosign }),
      clock: { now: () => new Date(nowMs) },
      pause: (ms) => {
        pauses.push(ms);
        nowMs += ms;
        linked = true;
        return Promise.resolve();
      },
    };
    const result = await handleSignCallback(deps, ociManifestPush('late-tag', ARTIFACT, `sha256-${IMAGE.slice('sha256:'.length)}.sig`));
    expect(result.outcomes).toEqual([{ id: 'late-tag', outcome: 'signed' }]);
    expect(pauses).toEqual([250]);
    expect(await readSignStatus(deps.store, `${HOST}/lab/app`, IMAGE)).toMatchObject({ status: 'signed', digest: IMAGE });
  });

  it('records a signature push the registry never backs as unsigned after at most three checks', async () => {
    const asked: string[] = [];
    const pauses: number[] = [];
    const deps: SignCallbackDeps = { ...depsWith({}, asked), pause: (ms) => (pauses.push(ms), Promise.resolve()) };
    const other = `sha256:${'ef'.repeat(32)}`;
    const result = await handleSignCallback(deps, ociManifestPush('never', ARTIFACT, `sha256-${other.slice('sha256:'.length)}.sig`));
    expect(result.outcomes).toEqual([{ id: 'never', outcome: 'unsigned' }]);
    expect(asked).toEqual([`lab/app@${other}`, `lab/app@${other}`, `lab/app@${other}`]);
    expect(pauses).toEqual([250, 750]);
  });

  it('drops the re-checks when the process stops during a pause, gives the event back and fails SERVICE_STOPPING, so the redelivery is processed', async () => {
    const asked: string[] = [];
    const stop = new AbortController();
    const pausedWith: Array<AbortSignal | undefined> = [];
    const base = depsWith({}, asked);
    const touched: string[] = [];
    const deps: SignCallbackDeps = {
      ...base,
      store: {
        get: (key) => (touched.push(`get ${key}`), base.store.get(key)),
        put: (key, item, options) => (touched.push(`put ${key}`), base.store.put(key, item, options)),
        delete: (key) => (touched.push(`delete ${key}`), base.store.delete(key)),
      },
      stop: stop.signal,
      // The stop arrives while the request pauses.
      pause: (_ms, signal) => {
        pausedWith.push(signal);
        stop.abort();
        touched.length = 0;
        return Promise.resolve();
      },
    };
    const other = `sha256:${'ef'.repeat(32)}`;
    const event = ociManifestPush('stopped', ARTIFACT, `sha256-${other.slice('sha256:'.length)}.sig`);
    await expect(handleSignCallback(deps, event)).rejects.toMatchObject({ code: ErrorCode.SERVICE_STOPPING });
    expect(asked).toEqual([`lab/app@${other}`]);
    expect(pausedWith).toEqual([stop.signal]);
    // After the stop only the event's claim is given back: no re-check reads or writes.
    expect(touched).toEqual(['delete callback:["event","stopped"]']);

    // The registry's redelivery to a running process is checked again, not a duplicate.
    const redelivered = await handleSignCallback({ ...deps, stop: new AbortController().signal, pause: () => Promise.resolve() }, event);
    expect(redelivered.outcomes).toEqual([{ id: 'stopped', outcome: 'unsigned' }]);
    expect(asked).toHaveLength(4);
  });
});
