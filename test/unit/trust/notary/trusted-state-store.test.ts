import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../../../shared/cache/memory-store.js';
import { ErrorCode, TrustgateError } from '../../../../shared/errors.js';
import { createTrustedStateStore, trustedStateKey } from '../../../../shared/trust/notary/trusted-state-store.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('createTrustedStateStore', () => {
  it('reads back exactly the metadata it saved, delegations included', async () => {
    const store = createTrustedStateStore(createMemoryStore());
    const metadata = { root: bytes('root'), timestamp: bytes('ts'), targets: bytes('t'), delegations: new Map([['targets/releases', bytes('r')]]) };
    await store.save('https://notary.example.com', 'docker.io/library/nginx', metadata);
    expect(await store.load('https://notary.example.com', 'docker.io/library/nginx')).toEqual(metadata);
  });

  it('keeps each (server, GUN) apart', async () => {
    const store = createTrustedStateStore(createMemoryStore());
    await store.save('https://a.example.com', 'docker.io/library/nginx', { root: bytes('a'), delegations: new Map() });
    expect(await store.load('https://b.example.com', 'docker.io/library/nginx')).toBeUndefined();
  });

  describe('when the stored entry is corrupt', () => {
    it('fails with STATE_STORE_FAILED instead of silently trusting a new root', async () => {
      const kv = createMemoryStore();
      await kv.put(trustedStateKey('https://a.example.com', 'gun'), { value: bytes('{"root": 5}'), version: 1 });
      const error = await createTrustedStateStore(kv).load('https://a.example.com', 'gun').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TrustgateError);
      expect((error as TrustgateError).code).toBe(ErrorCode.STATE_STORE_FAILED);
    });
  });
});
