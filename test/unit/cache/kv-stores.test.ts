import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createFileStore } from '../../../shared/cache/file-store.js';
import { createMemoryStore } from '../../../shared/cache/memory-store.js';
import { describeKvStoreContract } from './kv-store-contract.js';

let root = '';
let stores = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'trustgate-kv-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describeKvStoreContract('memory', (now) => createMemoryStore({ now }));

// Each file store gets a directory of its own that does not exist yet, so the contract
// also covers creating it on first write.
describeKvStoreContract('file', (now) => {
  stores += 1;
  return createFileStore(join(root, `store-${stores}`), { now });
});
