// Builds the Sigstore trusted-root source a process serves keyless verification from: the
// shipped root only when no TUF mirror is configured, else the refreshing source over the
// process's store. An adapter: it reads the configured TUF root file.
import { readFileSync, statSync } from 'node:fs';
import { ErrorCode, TrustgateError } from '../../shared/errors.js';
import type { Clock, Fetch, KvStore, Logger, Metrics } from '../../shared/ports.js';
import { PUBLIC_GOOD_TUF_ROOT } from '../../shared/trust/sigstore/public-good-tuf-root.js';
import { createRefreshingTrustedRootSource, createShippedSigstoreRootSource, type SigstoreRootSource } from '../../shared/trust/sigstore/refreshing-trusted-root-source.js';
import type { SigstoreRootConfig } from '../../shared/trust/sigstore/sigstore-root-config.js';
import { PUBLIC_GOOD_TRUSTED_ROOT } from '../../shared/trust/sigstore/trusted-root-source.js';
import { runTufUpdate } from '../../shared/trust/sigstore/tuf-update.js';

const MAX_TUF_ROOT_FILE_BYTES = 1024 * 1024;

export interface SigstoreRootDeps {
  readonly kv: KvStore;
  readonly fetch: Fetch;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

export function openSigstoreRootSource(config: SigstoreRootConfig, deps: SigstoreRootDeps): SigstoreRootSource {
  if (config.mirror === undefined) return createShippedSigstoreRootSource(PUBLIC_GOOD_TRUSTED_ROOT);
  return createRefreshingTrustedRootSource({
    mirror: config.mirror,
    initialTufRoot: config.tufRootFile === undefined ? PUBLIC_GOOD_TUF_ROOT : readTufRootFile(config.tufRootFile),
    shippedRoot: PUBLIC_GOOD_TRUSTED_ROOT,
    intervalMs: config.intervalMs,
    update: runTufUpdate,
    ...deps,
  });
}

// Read once at start; tuf-js verifies it is a root signed by its own keys before trusting it.
function readTufRootFile(path: string): Uint8Array {
  try {
    if (statSync(path).size > MAX_TUF_ROOT_FILE_BYTES) {
      throw new TrustgateError(ErrorCode.CONFIG_INVALID, `sigstore-tuf-root ${path} is larger than ${MAX_TUF_ROOT_FILE_BYTES} bytes`);
    }
    const bytes = readFileSync(path);
    const document = JSON.parse(bytes.toString('utf8')) as { signed?: { _type?: unknown } } | null;
    if (document?.signed?._type !== 'root') throw new TrustgateError(ErrorCode.CONFIG_INVALID, `sigstore-tuf-root ${path} is not TUF root metadata: expected signed._type "root"`);
    return bytes;
  } catch (error) {
    if (error instanceof TrustgateError) throw error;
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `sigstore-tuf-root ${path} cannot be read: ${(error as Error).message}`);
  }
}
