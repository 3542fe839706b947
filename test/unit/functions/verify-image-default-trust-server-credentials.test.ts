// verify-image with the operator's trust-server credentials configured, for images whose
// trust server is their registry's well-known default (quay.io, Docker Hub's
// notary.docker.io). Those servers cannot be reached from a test, so the function's pieces
// are assembled as a deployed verify-image assembles them (the Notary verifier, the token
// client from the environment, the policies) with the Fetch port playing the servers, and
// what each realm received is what is asserted.
import { describe, expect, it } from 'vitest';
import { createVerifyImageHandler } from '../../../functions/verify-image/handler.js';
import { createTokenProviderFromEnv } from '../../../infra/trust-server/token-provider-from-env.js';
import { createMemoryStore } from '../../../shared/cache/memory-store.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';
import { silentLogger, type Fetch, type HttpRequest } from '../../../shared/ports.js';
import { createNotaryVerifier } from '../../../shared/trust/notary/notary-verifier.js';
import { createTrustedStateStore } from '../../../shared/trust/notary/trusted-state-store.js';
import { fixedClock } from '../../support/clocks.js';

const clock = fixedClock(new Date('2030-01-01T00:00:00Z'));
const OPERATOR_ENV = { TRUSTGATE_TRUST_USERNAME: 'corp-notary-user', TRUSTGATE_TRUST_PASSWORD: 'corp-notary-pw' };
const OPERATOR_BASIC = `Basic ${Buffer.from('corp-notary-user:corp-notary-pw').toString('base64')}`;
const HUB_BASIC = `Basic ${Buffer.from('alice:hub-pw').toString('base64')}`;

// A namespace owner's policies (what --policies-from-cluster lets anyone who may create an
// ImagePolicy in `tenant` write): trust for quay.io and Docker Hub, no trustServer.
const POLICIES = decodePolicyDocuments([
  {
    source: 'tenant.yaml',
    text: [
      'apiVersion: portieris.cloud.ibm.com/v1',
      'kind: ImagePolicy',
      'metadata: {name: mine, namespace: tenant}',
      'spec:',
      '  repositories:',
      '    - name: "quay.io/*"',
      '      policy: {trust: {enabled: true}}',
      '    - name: "docker.io/*"',
      '      policy: {trust: {enabled: true}}',
      '',
    ].join('\n'),
  },
]);

// Each trust server answers every metadata request with a Bearer challenge naming its real
// token realm; each realm issues a token. Nothing is ever signed: the verdicts are denials,
// and the assertions are about which realm received which Authorization.
const REALMS: Readonly<Record<string, { realm: string; service: string }>> = {
  'https://quay.io': { realm: 'https://quay.io/v2/auth', service: 'quay.io' },
  'https://notary.docker.io': { realm: 'https://auth.docker.io/token', service: 'notary.docker.io' },
};

function publicServers(): { fetch: Fetch; tokenRequests: HttpRequest[] } {
  const tokenRequests: HttpRequest[] = [];
  const fetch: Fetch = (request) => {
    const url = new URL(request.url);
    const realm = Object.values(REALMS).find((entry) => url.href.startsWith(entry.realm));
    if (realm !== undefined) {
      tokenRequests.push(request);
      return Promise.resolve({ status: 200, header: () => undefined, body: new TextEncoder().encode('{"token":"issued","expires_in":300}') });
    }
    const server = REALMS[url.origin];
    const challenge = server === undefined ? undefined : `Bearer realm="${server.realm}",service="${server.service}",scope="repository:x:pull"`;
    return Promise.resolve({
      status: server === undefined ? 404 : 401,
      header: (name) => (name.toLowerCase() === 'www-authenticate' ? challenge : undefined),
      body: new TextEncoder().encode('{}'),
    });
  };
  return { fetch, tokenRequests };
}

function verifyImageFunction(env: Record<string, string>) {
  const servers = publicServers();
  const notary = createNotaryVerifier({
    fetch: servers.fetch,
    state: createTrustedStateStore(createMemoryStore({ clock }), silentLogger),
    logger: silentLogger,
    tokens: createTokenProviderFromEnv(servers.fetch, env, clock),
    freshnessMs: 0,
  });
  const handle = createVerifyImageHandler({ notary, clock, logger: silentLogger, policies: () => Promise.resolve(POLICIES) });
  return { handle, tokenRequests: servers.tokenRequests };
}

const authorizationsSent = (requests: readonly HttpRequest[]): (string | undefined)[] => requests.map((request) => request.headers?.['authorization']);

describe("verify-image for an image under its registry's default trust server", () => {
  it("never sends the operator's trust-server credentials to quay.io's token realm", async () => {
    const fn = verifyImageFunction(OPERATOR_ENV);

    const response = await fn.handle({ image: 'quay.io/attacker/x:1', namespace: 'tenant' });

    expect(response).toMatchObject({ statusCode: 200, body: { allowed: false } });
    expect(fn.tokenRequests.length).toBeGreaterThan(0);
    expect(authorizationsSent(fn.tokenRequests).every((header) => header === undefined)).toBe(true);
  });

  it('sends them once the operator lists quay.io in TRUSTGATE_TRUST_CREDENTIALS_SERVERS', async () => {
    const fn = verifyImageFunction({ ...OPERATOR_ENV, TRUSTGATE_TRUST_CREDENTIALS_SERVERS: 'https://quay.io:443' });

    await fn.handle({ image: 'quay.io/team/app:1', namespace: 'tenant' });

    expect(authorizationsSent(fn.tokenRequests)).toContain(OPERATOR_BASIC);
  });

  it("sends a workload's Docker Hub pull secret to Docker Hub's Notary realm instead of denying the image", async () => {
    const fn = verifyImageFunction(OPERATOR_ENV);

    const response = await fn.handle({
      image: 'docker.io/library/nginx:1',
      namespace: 'tenant',
      registryCredentials: [{ registry: 'https://index.docker.io/v1/', source: 'Secret tenant/hub', username: 'alice', password: 'hub-pw' }],
    });

    expect(response).toMatchObject({ statusCode: 200, body: { allowed: false } });
    expect((response.body as { codes: string[] }).codes).not.toContain('TRUST_AUTH_REALM_REFUSED');
    expect(fn.tokenRequests.map((request) => new URL(request.url).origin)).toContain('https://auth.docker.io');
    expect(authorizationsSent(fn.tokenRequests).every((header) => header === HUB_BASIC)).toBe(true);
  });
});
