// The port through which the Notary client workflow reads a repository's metadata.
// Implemented over HTTP by http-source.ts; unit tests use an in-memory source.
import type { RoleName } from './model.js';

export type MetadataSelector =
  | { readonly kind: 'latest' } // GET {role}.json
  | { readonly kind: 'checksum'; readonly sha256Hex: string } // GET {role}.{sha256}.json
  | { readonly kind: 'version'; readonly version: number }; // GET {version}.{role}.json

export interface MetadataSource {
  // The served bytes, or undefined when the server answers 404 (no such metadata).
  // Rejects with TRUST_SERVER_UNAVAILABLE (network, timeout, 5xx, auth failure) or
  // TRUST_METADATA_TOO_LARGE (body over maxBytes, checked while streaming). `signal`
  // aborts the request (the update's deadline): it then rejects with the signal's reason.
  fetchMetadata(role: RoleName, selector: MetadataSelector, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array | undefined>;
}
