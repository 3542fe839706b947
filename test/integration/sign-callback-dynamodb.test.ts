// sign-callback on a real DynamoDB-compatible table (dynalite): what a writer of the table
// without the state key, or two deliveries racing, can make it forget.
import { generateKeyPairSync } from 'node:crypto';
import { PutItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSignCallbackHandler } from '../../functions/sign-callback/handler.js';
import { createAuthenticatedStore } from '../../shared/cache/authenticated-store.js';
import { createDynamoDbStore } from '../../shared/cache/dynamodb-store.js';
import { readSignStatus, type SignCallbackDeps } from '../../shared/callback/sign-callback.js';
import { ErrorCode, TrustgateError } from '../../shared/errors.js';
import type { KvStore, Logger } from '../../shared/ports.js';
import type { CosignRequirement, ImageVerifier } from '../../shared/trust/verifier.js';
import { CALLBACK_REGISTRY_HOST as HOST, cosignKeyPolicies, signCallbackDeps } from '../support/sign-callback-deps.js';
import { createTrustgateTable, startDynalite, type DynaliteServer } from '../support/dynalite-server.js';

const SIGNED = `sha256:${'ab'.repeat(32)}`;
const UNSIGNED = `sha256:${'cd'.repeat(32)}`;
const KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString().trim();
const TOKEN = 'callback-token';
const push = (id: string, repository: string, digest: string, tag: string) => ({ id, action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, repository, tag } });
const refsKey = (gun: string): string => `callback:${JSON.stringify(['refs', gun])}`;

let dynamo: DynaliteServer;
let tables = 0;
beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(async () => {
  await dynamo.stop();
});

// `store`, whose writes of `key` wait until `readers` reads of it have been answered: deliveries
// racing are made to interleave (each reads the entry before either writes it back), whatever
// the timing of the machine.
function racingReads(store: KvStore, key: string, readers: number): KvStore {
  let reads = 0;
  let allRead: () => void = () => undefined;
  const barrier = new Promise<void>((resolve) => (allRead = resolve));
  return {
    get: async (name) => {
      const item = await store.get(name);
      if (name === key && ++reads >= readers) allRead();
      return item;
    },
    put: async (name, item, options) => {
      if (name === key) await barrier;
      return store.put(name, item, options);
    },
    delete: (name) => store.delete(name),
  };
}

// A callback on its own table, whose cosign verifier finds SIGNED signed until `revoke` (tag
// v1 is at SIGNED, every other tag at UNSIGNED) and answers on a later macrotask, like a
// registry read. `plant` writes a raw item into the table, as a writer without the state key can.
async function setUp(wrap: (store: KvStore) => KvStore = (store) => store) {
  const client = dynamo.client();
  const table = `callback-${tables++}`;
  await createTrustgateTable(client, table);
  let nowMs = Date.parse('2026-11-27T08:00:00Z');
  const clock = { now: () => new Date(nowMs) };
  let revoked = false;
  const cosign: ImageVerifier<CosignRequirement> = {
    kind: 'cosign',
    verify: async (image) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      const digest = image.digest ?? (image.tag === 'v1' ? SIGNED : UNSIGNED);
      if (digest === SIGNED && !revoked) return { digest, signers: ['cosign:key/release-key'] };
      throw new TrustgateError(ErrorCode.COSIGN_SIGNATURE_MISSING, 'none');
    },
  };
  const errors: string[] = [];
  const logger: Logger = { info: () => undefined, warn: () => undefined, error: (message) => void errors.push(message) };
  const commits: number[] = [];
  const base = signCallbackDeps({ policies: cosignKeyPolicies(KEY), cosign });
  const deps: SignCallbackDeps = {
    ...base,
    clock,
    logger,
    store: wrap(createAuthenticatedStore(createDynamoDbStore({ client, table, clock }), new Uint8Array(32).fill(3))),
    // A changefeed page naming team-a/app first, then team-b/app.
    poll: () =>
      Promise.resolve({
        records: [
          { id: '1', gun: `${HOST}/team-a/app`, version: 2, category: 'update' },
          { id: '2', gun: `${HOST}/team-b/app`, version: 2, category: 'update' },
        ],
        commit: () => {
          commits.push(2);
          return Promise.resolve();
        },
      }),
  };
  const handle = createSignCallbackHandler(deps, TOKEN);
  return {
    deps,
    errors,
    commits,
    call: (body: unknown) => handle({ body, headers: { authorization: `Bearer ${TOKEN}` } }),
    poll: () => handle({ body: { poll: true }, headers: {}, trusted: true }),
    plant: async (key: string, item: Record<string, AttributeValue>) => void (await client.send(new PutItemCommand({ TableName: table, Item: { pk: { S: key }, ...item } }))),
    revoke: () => {
      revoked = true;
      nowMs += 60_000;
    },
  };
}

describe('sign-callback on DynamoDB', () => {
  describe.each([
    ['its value a string', { v: { S: 'x' }, ver: { N: '1' } }],
    ['no version', { v: { B: new Uint8Array(40) } }],
  ])('given a recorded refs item of the wrong shape (%s)', (_shape, item: Record<string, AttributeValue>) => {
    it('skips it, so the changefeed page re-checks the other repositories and moves on', async () => {
      const { deps, errors, commits, call, poll, plant, revoke } = await setUp();
      expect((await call({ events: [push('a', 'team-a/app', SIGNED, 'v1'), push('b', 'team-b/app', SIGNED, 'v1')] })).statusCode).toBe(200);
      await plant(refsKey(`${HOST}/team-a/app`), item);

      revoke();
      const answer = await poll();

      expect(answer.statusCode).toBe(200);
      expect(commits).toHaveLength(1);
      expect(await readSignStatus(deps.store, `${HOST}/team-b/app`, 'v1')).toMatchObject({ status: 'unsigned' });
      expect(errors).toContain('recorded sign status unreadable: skipped');
    });

    it('does not fail the pushes to that repository: its refs are recorded anew', async () => {
      const { deps, call, plant } = await setUp();
      await plant(refsKey(`${HOST}/team-a/app`), item);

      const answer = await call({ events: [push('c', 'team-a/app', SIGNED, 'v1')] });

      expect(answer.statusCode).toBe(200);
      expect(await readSignStatus(deps.store, `${HOST}/team-a/app`, 'v1')).toMatchObject({ status: 'signed' });
    });
  });

  it('keeps both refs of two deliveries to one repository racing, so the changefeed re-checks the signed one', async () => {
    const { deps, call, poll, revoke } = await setUp((store) => racingReads(store, refsKey(`${HOST}/team-b/app`), 2));
    const answers = await Promise.all([call({ events: [push('signed-v1', 'team-b/app', SIGNED, 'v1')] }), call({ events: [push('junk', 'team-b/app', UNSIGNED, 'junk')] })]);
    expect(answers.map((answer) => answer.statusCode)).toEqual([200, 200]);

    revoke();
    const answer = await poll();

    expect((answer.body as { outcomes: Array<{ id: string }> }).outcomes.map((outcome) => outcome.id).sort()).toEqual([`${HOST}/team-b/app:junk`, `${HOST}/team-b/app:v1`]);
    expect(await readSignStatus(deps.store, `${HOST}/team-b/app`, 'v1')).toMatchObject({ status: 'unsigned' });
  });
});
