// Dependencies a deployed function builds once per container (cold start) from its
// environment, decoded here and nowhere else.
import { createFileStore } from '../../shared/cache/file-store.js';
import { createMemoryStore } from '../../shared/cache/memory-store.js';
import { createNodeFetch } from '../../shared/http/node-fetch.js';
import { createJsonLogger } from '../../shared/logging/json-logger.js';
import type { Clock } from '../../shared/ports.js';
import { createTokenProvider } from '../../shared/registry/token-auth.js';
import { createNotaryVerifier } from '../../shared/trust/notary/notary-verifier.js';
import { createTrustedStateStore } from '../../shared/trust/notary/trusted-state-store.js';
import type { VerifyImageDeps } from '../../shared/verify/verify-image.js';

export const systemClock: Clock = { now: () => new Date() };

export function buildVerifyImageDeps(env: Readonly<Record<string, string | undefined>>): VerifyImageDeps {
  const logger = createJsonLogger((line) => process.stdout.write(`${line}\n`));
  const fetch = createNodeFetch();
  const stateDir = env['TRUSTGATE_STATE_DIR'];
  const kv = stateDir ? createFileStore(stateDir) : createMemoryStore();
  const tokens = createTokenProvider({ fetch, timeoutMs: 10_000, now: () => Date.now() });
  const notary = createNotaryVerifier({ fetch, state: createTrustedStateStore(kv), logger, tokens });
  return { notary, clock: systemClock, logger };
}
