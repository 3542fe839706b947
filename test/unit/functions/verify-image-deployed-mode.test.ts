// Deployed verify-image takes trust from its policies only: the explicit form's trust server,
// signers and root key IDs are refused unless TRUSTGATE_ALLOW_EXPLICIT_TRUST=true, and the
// deployment descriptors never set that.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildVerifyImageDeps } from '../../../functions/platform/runtime-deps.js';
import { createVerifyImageHandler } from '../../../functions/verify-image/handler.js';
import { silentLogger } from '../../../shared/ports.js';
import type { ImageVerifier, NotaryRequirement } from '../../../shared/trust/verifier.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const seen: NotaryRequirement[] = [];
const verifier: ImageVerifier<NotaryRequirement> = {
  kind: 'notary',
  verify: (_image, requirement) => {
    seen.push(requirement);
    return Promise.resolve({ digest: DIGEST, signers: ['targets'] });
  },
};
const deps = { notary: verifier, clock: { now: () => new Date('2026-11-27T00:00:00Z') }, logger: silentLogger };
const root = (path: string): string => fileURLToPath(new URL(`../../../${path}`, import.meta.url));

describe('createVerifyImageHandler', () => {
  describe('when explicit trust is not allowed', () => {
    const handle = createVerifyImageHandler({ ...deps, allowExplicitTrust: false });

    it('answers 400 REQUEST_INVALID naming every trust field sent, without verifying', async () => {
      seen.length = 0;
      const response = await handle({ image: 'reg.example.com/a:v1', trust: { server: 'https://attacker.example.com', rootKeyIds: ['cd'.repeat(32)] } });
      expect(response.statusCode).toBe(400);
      expect(response.body).toMatchObject({ error: { code: 'REQUEST_INVALID', problems: [{ path: 'trust.server' }, { path: 'trust.rootKeyIds' }] } });
      expect(seen).toEqual([]);
    });

    it('refuses cosign keys sent by the caller, without verifying', async () => {
      seen.length = 0;
      const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const response = await handle({ image: 'reg.example.com/a:v1', cosign: { keys: [{ name: 'mine', publicKey: pem }] } });
      expect(response).toMatchObject({ statusCode: 400, body: { error: { code: 'REQUEST_INVALID', problems: [{ path: 'cosign.keys' }] } } });
      expect(seen).toEqual([]);
    });

    it('still answers an explicit request that names no trust material', async () => {
      const response = await handle({ image: 'reg.example.com/a:v1' });
      expect(response).toMatchObject({ statusCode: 200, body: { allowed: true } });
    });
  });

  describe('by default', () => {
    it('refuses a request naming a trust server with 400, without verifying', async () => {
      seen.length = 0;
      const response = await createVerifyImageHandler(deps)({ image: 'reg.example.com/a:v1', trust: { server: 'https://attacker.example.com' } });
      expect(response).toMatchObject({ statusCode: 400, body: { error: { code: 'REQUEST_INVALID' } } });
      expect(seen).toEqual([]);
    });
  });

  describe('when explicit trust is allowed', () => {
    it('verifies against the server the request names, marked as the caller\'s choice', async () => {
      seen.length = 0;
      const response = await createVerifyImageHandler({ ...deps, allowExplicitTrust: true })({ image: 'reg.example.com/a:v1', trust: { server: 'https://notary.example.com' } });
      expect(response).toMatchObject({ statusCode: 200, body: { allowed: true } });
      expect(seen[0]).toMatchObject({ server: 'https://notary.example.com', serverFromCaller: true });
    });

    it('leaves the registry\'s default server the operator\'s', async () => {
      seen.length = 0;
      await createVerifyImageHandler({ ...deps, allowExplicitTrust: true })({ image: 'reg.example.com/a:v1', trust: { rootKeyIds: ['cd'.repeat(32)] } });
      expect(seen[0]?.serverFromCaller).toBeUndefined();
    });
  });

  describe('when explicit trust needs a bearer token', () => {
    const handle = createVerifyImageHandler({ ...deps, explicitTrustToken: 'explicit-secret' });
    const request = { image: 'reg.example.com/a:v1', trust: { signers: [], server: 'https://notary.example.com' } };

    it.each([
      ['no Authorization header', {}],
      ['a wrong token', { authorization: 'Bearer explicit-secreT' }],
      ['a longer token', { authorization: 'Bearer explicit-secret2' }],
      ['Basic credentials', { authorization: `Basic ${Buffer.from('a:explicit-secret').toString('base64')}` }],
    ])('answers 403 UNAUTHORIZED to a request with %s, without verifying', async (_name, headers) => {
      seen.length = 0;
      const response = await handle(request, { headers });
      expect(response).toMatchObject({ statusCode: 403, body: { error: { code: 'UNAUTHORIZED' } } });
      expect(seen).toEqual([]);
    });

    it('verifies for a caller presenting the token', async () => {
      seen.length = 0;
      const response = await handle(request, { headers: { authorization: 'Bearer explicit-secret' } });
      expect(response).toMatchObject({ statusCode: 200, body: { allowed: true } });
      expect(seen[0]).toMatchObject({ serverFromCaller: true });
    });

    it('answers the policy form without a token', async () => {
      const response = await handle({ image: 'reg.example.com/a:v1', namespace: 'default' }, { headers: {} });
      expect(response.statusCode).toBe(200);
    });
  });
});

describe('buildVerifyImageDeps', () => {
  describe.each([
    [undefined, false],
    ['1', false],
    ['TRUE', false],
    ['true', true],
  ])('with TRUSTGATE_ALLOW_EXPLICIT_TRUST=%s', (value, expected) => {
    it(`sets allowExplicitTrust to ${String(expected)}`, () => {
      const env = value === undefined ? {} : { TRUSTGATE_ALLOW_EXPLICIT_TRUST: value };
      expect(buildVerifyImageDeps(env).allowExplicitTrust).toBe(expected);
    });
  });
});

describe('the deployment descriptors', () => {
  it('never set TRUSTGATE_ALLOW_EXPLICIT_TRUST', () => {
    const serverless = readFileSync(root('serverless.yml'), 'utf8');
    const manifest = parse(readFileSync(root('manifest.yaml'), 'utf8')) as { packages: Record<string, { actions: Record<string, { inputs?: Record<string, unknown> }> }> };
    expect(serverless).not.toContain('TRUSTGATE_ALLOW_EXPLICIT_TRUST');
    for (const pkg of Object.values(manifest.packages)) {
      for (const action of Object.values(pkg.actions)) expect(Object.keys(action.inputs ?? {})).not.toContain('TRUSTGATE_ALLOW_EXPLICIT_TRUST');
    }
  });
});
