// Authenticates every entry of a KvStore with HMAC-SHA256 under a secret key, so entries
// written by anyone without the key (straight into the SQLite file or the DynamoDB table)
// are refused instead of trusted. The cached Notary root is the trust anchor of its
// repository: a planted root would otherwise make trustgate accept whatever its key signs.
//
// What it does not stop: a writer of the table can delete entries or put back an older
// entry it saw earlier (a valid MAC from the past). Deletion leads to trust on first use
// again (pin root key IDs where that matters); an old entry is still verified and
// version-checked against what the trust server serves now, and is never answered offline
// as fresh: the freshness record names the exact documents it confirmed
// (shared/trust/notary/trusted-state-store.ts).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ErrorCode, TrustgateError } from '../errors.js';
import type { KvItem, KvStore } from '../ports.js';

const MAC_BYTES = 32;
const DOMAIN = 'trustgate kv entry v1\n';
// Shorter keys make forging a MAC easier than guessing a 256-bit secret.
export const MIN_STATE_KEY_BYTES = 32;

// The MAC covers the store key, the version, the expiry and the value: an authentic entry
// moved under another key (another repository's root), given another version (to block
// updates) or a later expiry is refused like a forged one. JSON.stringify escapes every
// lone surrogate, so distinct keys never encode to the same bytes.
function macOf(secret: Uint8Array, key: string, item: KvItem, value: Uint8Array): Buffer {
  const header = `${DOMAIN}${JSON.stringify([key, item.version, item.expiresAt ?? null])}\n`;
  return createHmac('sha256', secret).update(header, 'utf8').update(value).digest();
}

// Errors raised for entries whose MAC failed, told apart from a store that is merely down.
const authenticationFailures = new WeakSet<object>();

// True when `error` says an entry was refused (forged or altered), not that the store failed.
export function isAuthenticationFailure(error: unknown): boolean {
  return typeof error === 'object' && error !== null && authenticationFailures.has(error);
}

// Wraps `inner`. get() rejects with STATE_STORE_FAILED when an entry's MAC does not verify
// (isAuthenticationFailure tells it apart); the caller decides whether that means "refetch"
// or "stop".
export function createAuthenticatedStore(inner: KvStore, secret: Uint8Array): KvStore {
  if (secret.length < MIN_STATE_KEY_BYTES) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `state key too short: expected at least ${MIN_STATE_KEY_BYTES} bytes, got ${secret.length}`);
  }
  const key = Uint8Array.from(secret);
  return {
    async get(name) {
      const item = await inner.get(name);
      if (item === undefined) return undefined;
      const stored = item.value;
      const value = stored.subarray(MAC_BYTES);
      const expected = macOf(key, name, item, value);
      if (stored.length < MAC_BYTES || !timingSafeEqual(stored.subarray(0, MAC_BYTES), expected)) {
        const refused = new TrustgateError(ErrorCode.STATE_STORE_FAILED, `cached entry ${JSON.stringify(name.slice(0, 200))} failed authentication: expected a valid HMAC under the state key, got another`);
        authenticationFailures.add(refused);
        throw refused;
      }
      return { ...item, value: Uint8Array.from(value) };
    },
    put(name, item, options) {
      const mac = macOf(key, name, item, item.value);
      const value = new Uint8Array(MAC_BYTES + item.value.length);
      value.set(mac, 0);
      value.set(item.value, MAC_BYTES);
      return inner.put(name, { ...item, value }, options);
    },
    delete: (name) => inner.delete(name),
  };
}

// Decodes TRUSTGATE_STATE_KEY: 64+ hex characters, or base64 of 32+ bytes.
export function decodeStateKey(text: string): Uint8Array {
  const trimmed = text.trim();
  const bytes = /^(?:[0-9a-fA-F]{2})+$/.test(trimmed)
    ? Buffer.from(trimmed, 'hex')
    : /^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)
      ? Buffer.from(trimmed, 'base64')
      : Buffer.alloc(0);
  if (bytes.length < MIN_STATE_KEY_BYTES) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `TRUSTGATE_STATE_KEY is not usable: expected hex or base64 of at least ${MIN_STATE_KEY_BYTES} bytes, got ${bytes.length} bytes`);
  }
  return new Uint8Array(bytes);
}
