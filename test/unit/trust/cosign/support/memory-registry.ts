// An in-memory registry behind the Fetch port, serving manifests by repository and
// reference and blobs by digest the way distribution does (Docker-Content-Digest on
// manifests, 404 for anything unknown). Tests tamper with what it serves to play a hostile
// registry. The real docker-registry is exercised by the integration tests.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ErrorCode, TrustgateError } from '../../../../../shared/errors.js';
import type { Fetch, HttpResponse } from '../../../../../shared/ports.js';

export const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

interface Stored {
  readonly body: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
}

export interface SignatureSpec {
  readonly payload: Uint8Array;
  // Base64 annotation value; undefined leaves the annotation out.
  readonly signature: string | undefined;
  readonly mediaType?: string;
  // Descriptor size to claim instead of the payload's.
  readonly size?: number;
  // More layer annotations (keyless: certificate, chain, Rekor bundle).
  readonly annotations?: Readonly<Record<string, string>>;
}

export class MemoryRegistry {
  readonly manifests = new Map<string, Stored>();
  readonly blobs = new Map<string, Uint8Array>();
  readonly requests: string[] = [];
  // Answers of the referrers API by `repository/digest`; without one the API answers 404
  // (as distribution 2.8 does), and the referrers tag is read instead.
  readonly referrers = new Map<string, Uint8Array>();

  // Stores a manifest under `reference` (tag or digest) and by its digest; answers the digest.
  putManifest(repository: string, reference: string, body: Uint8Array, mediaType: string, headers: Readonly<Record<string, string>> = {}): string {
    const digest = sha256(body);
    const stored = { body, headers: { 'content-type': mediaType, 'docker-content-digest': digest, ...headers } };
    this.manifests.set(`${repository}/${reference}`, stored);
    this.manifests.set(`${repository}/${digest}`, stored);
    return digest;
  }

  // Writes a classic cosign signature manifest for `digest` with one layer per signature.
  putSignatures(repository: string, digest: string, signatures: readonly SignatureSpec[]): void {
    const layers = signatures.map((spec) => {
      const layerDigest = sha256(spec.payload);
      this.blobs.set(layerDigest, spec.payload);
      return {
        mediaType: spec.mediaType ?? SIMPLE_SIGNING,
        size: spec.size ?? spec.payload.length,
        digest: layerDigest,
        ...(spec.signature === undefined && spec.annotations === undefined
          ? {}
          : { annotations: { ...spec.annotations, ...(spec.signature === undefined ? {} : { 'dev.cosignproject.cosign/signature': spec.signature }) } }),
      };
    });
    const config = Buffer.from('{"architecture":"","config":{},"created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":[]}}');
    this.blobs.set(sha256(config), config);
    const manifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', size: config.length, digest: sha256(config) }, layers };
    this.putManifest(repository, `${digest.replace(':', '-')}.sig`, Buffer.from(JSON.stringify(manifest)), OCI_MANIFEST);
  }

  readonly fetch: Fetch = async (request) => {
    this.requests.push(request.url);
    const url = new URL(request.url);
    const manifest = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
    const blob = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(url.pathname);
    const referrers = /^\/v2\/(.+)\/referrers\/([^/]+)$/.exec(url.pathname);
    if (referrers !== null) {
      const body = this.referrers.get(`${referrers[1]}/${referrers[2]}`);
      if (body !== undefined) return respond(200, body, { 'content-type': 'application/vnd.oci.image.index.v1+json' }, request.maxBytes);
    } else if (manifest !== null) {
      const stored = this.manifests.get(`${manifest[1]}/${manifest[2]}`);
      if (stored !== undefined) return respond(200, stored.body, stored.headers, request.maxBytes);
    } else if (blob !== null) {
      const body = this.blobs.get(blob[2] ?? '');
      if (body !== undefined) return respond(200, body, {}, request.maxBytes);
    }
    return respond(404, Buffer.from('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'), {}, request.maxBytes);
  };
}

function respond(status: number, body: Uint8Array, headers: Readonly<Record<string, string>>, maxBytes: number): Promise<HttpResponse> {
  // As the Fetch port does: past maxBytes the request fails instead of answering.
  if (body.length > maxBytes) return Promise.reject(new TrustgateError(ErrorCode.TRUST_METADATA_TOO_LARGE, 'body too large'));
  return Promise.resolve({ status, body, header: (name: string) => headers[name.toLowerCase()] });
}

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

const FIXTURES = new URL('../../../../fixtures/cosign/', import.meta.url);

export function fixture(path: string): Buffer {
  return readFileSync(new URL(path, FIXTURES));
}

// A containers/image `signature-N` file: `\0sigstore-json\n` then {payload, annotations}.
export function readSignatureFile(path: string): SignatureSpec {
  const bytes = fixture(path);
  const json = JSON.parse(bytes.subarray(bytes.indexOf(10) + 1).toString('utf8')) as { payload: string; annotations: Record<string, string> };
  return { payload: Buffer.from(json.payload, 'base64'), signature: json.annotations['dev.cosignproject.cosign/signature'] };
}
