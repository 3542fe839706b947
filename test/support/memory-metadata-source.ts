// An in-memory MetadataSource serving Notary metadata bytes the way notary-server addresses
// them (latest, by checksum, roots by version), recording every fetch with the cap it was
// given so tests can assert what the client asked for.
import { createHash } from 'node:crypto';
import { ErrorCode, TrustgateError } from '../../shared/errors.js';
import type { RoleName } from '../../shared/trust/notary/model.js';
import type { MetadataSelector, MetadataSource } from '../../shared/trust/notary/source.js';

export interface FetchRecord {
  readonly role: RoleName;
  readonly selector: MetadataSelector;
  readonly maxBytes: number;
}

export interface MemoryMetadataSource extends MetadataSource {
  readonly fetches: FetchRecord[];
  // Serve every role in `metadata` as latest and by checksum (roots also by version), on
  // top of what was published before: older states stay fetchable, as on notary-server.
  publish(metadata: ReadonlyMap<RoleName, Uint8Array>): void;
  // Answer one request with these bytes, or with 404 when undefined.
  put(role: RoleName, selector: MetadataSelector, bytes: Uint8Array | undefined): void;
  clearFetches(): void;
}

export interface MemorySourceOptions {
  // Like a real source, refuse bodies over the cap (default). false = a source that ignores
  // the cap, to show the client checks sizes itself.
  readonly enforceCap?: boolean;
}

function keyOf(role: RoleName, selector: MetadataSelector): string {
  switch (selector.kind) {
    case 'latest':
      return `${role}.json`;
    case 'checksum':
      return `${role}.${selector.sha256Hex}.json`;
    case 'version':
      return `${selector.version}.${role}.json`;
  }
}

function rootVersionOf(bytes: Uint8Array): number {
  const parsed = JSON.parse(new TextDecoder().decode(bytes)) as { signed: { version: number } };
  return parsed.signed.version;
}

export function createMemoryMetadataSource(options: MemorySourceOptions = {}): MemoryMetadataSource {
  const files = new Map<string, Uint8Array | undefined>();
  const fetches: FetchRecord[] = [];
  const put = (role: RoleName, selector: MetadataSelector, bytes: Uint8Array | undefined): void => {
    files.set(keyOf(role, selector), bytes);
  };
  return {
    fetches,
    publish(metadata) {
      for (const [role, bytes] of metadata) {
        put(role, { kind: 'latest' }, bytes);
        put(role, { kind: 'checksum', sha256Hex: createHash('sha256').update(bytes).digest('hex') }, bytes);
        if (role === 'root') put(role, { kind: 'version', version: rootVersionOf(bytes) }, bytes);
      }
    },
    put,
    clearFetches() {
      fetches.length = 0;
    },
    // Answers like a real source: a refused document is a rejected promise, never a throw.
    fetchMetadata(role, selector, maxBytes) {
      fetches.push({ role, selector, maxBytes });
      const bytes = files.get(keyOf(role, selector));
      if (bytes !== undefined && (options.enforceCap ?? true) && bytes.length > maxBytes) {
        return Promise.reject(new TrustgateError(ErrorCode.TRUST_METADATA_TOO_LARGE, `${role}: expected at most ${maxBytes} bytes, got more`));
      }
      return Promise.resolve(bytes);
    },
  };
}
