// What the sign-callback tests build the callback from: its deps, one clock for the callback,
// its verifiers and its store (as the entry points build them), and the registry events it is
// sent.
import { createMemoryStore } from '../../shared/cache/memory-store.js';
import { decodeCallbackRequest, type CallbackRequest } from '../../shared/callback/callback-request.js';
import type { SignCallbackDeps } from '../../shared/callback/sign-callback.js';
import { ErrorCode, TrustgateError } from '../../shared/errors.js';
import { decodePolicyDocuments } from '../../shared/policy/decode-documents.js';
import { noopMetrics, silentLogger } from '../../shared/ports.js';
import type { CosignRequirement, ImageVerifier } from '../../shared/trust/verifier.js';
import { fixedClock } from './clocks.js';
import { cosignKeySecretYaml } from './key-secrets.js';

export const CALLBACK_CLOCK = fixedClock(new Date('2026-11-27T08:00:00Z'));
// The registry the callback forms GUNs with.
export const CALLBACK_REGISTRY_HOST = '127.0.0.1:5000';

export interface SignCallbackSetUp {
  // The policies (YAML) that decide what signed means; none configured when absent.
  readonly policies?: string;
  readonly cosign?: ImageVerifier<CosignRequirement>;
  readonly referrerSubject?: SignCallbackDeps['referrerSubject'];
}

// The callback's deps for CALLBACK_REGISTRY_HOST in namespace `default`, on CALLBACK_CLOCK with
// an empty memory store; its Notary verifier finds no image signed.
export function signCallbackDeps(setUp: SignCallbackSetUp = {}): SignCallbackDeps {
  const { policies, cosign, referrerSubject } = setUp;
  const set = policies === undefined ? undefined : decodePolicyDocuments([{ source: 'p.yaml', text: policies }]);
  return {
    verify: {
      notary: { kind: 'notary', verify: () => Promise.reject(new TrustgateError(ErrorCode.TRUST_NO_SIGNED_TARGET, 'unsigned')) },
      ...(cosign === undefined ? {} : { cosign }),
      clock: CALLBACK_CLOCK,
      logger: silentLogger,
      ...(set === undefined ? {} : { policies: () => Promise.resolve(set) }),
    },
    store: createMemoryStore({ clock: CALLBACK_CLOCK }),
    clock: CALLBACK_CLOCK,
    logger: silentLogger,
    metrics: noopMetrics,
    registryHost: CALLBACK_REGISTRY_HOST,
    namespace: 'default',
    ...(referrerSubject === undefined ? {} : { referrerSubject }),
  };
}

// A callback request of one event: an OCI image manifest pushed to lab/app by `digest`, and at
// `tag` where one is given.
export function ociManifestPush(id: string, digest: string, tag?: string): CallbackRequest {
  const target = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, repository: 'lab/app', ...(tag === undefined ? {} : { tag }) };
  return decodeCallbackRequest({ events: [{ id, action: 'push', target }] });
}

// Policies (YAML) asking every image on CALLBACK_REGISTRY_HOST for a cosign signature by
// `publicKeyPem`, held in the Secret `release-key`.
export function cosignKeyPolicies(publicKeyPem: string): string {
  return `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: cosign}
spec:
  repositories:
    - name: "${CALLBACK_REGISTRY_HOST}/*"
      policy: {sigstore: {authorities: [{key: {secretName: release-key}}]}}
---
${cosignKeySecretYaml('release-key', 'default', publicKeyPem)}
`;
}
