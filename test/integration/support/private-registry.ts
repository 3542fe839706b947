// A private registry: the real docker-registry in token mode (`auth.token`) whose loopback
// token service grants tokens only for one user name and password, holding one image signed
// with a cosign key. What the pull-secret suites verify against.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { cosignPayload, createCosignKey, pushCosignSignatures, signPayload, type CosignKeyPair } from './cosign-signatures.js';
import { isDockerRegistryInstalled, pushImage, startDockerRegistry, type DockerRegistry, type PushedImage } from './docker-registry.js';
import { createTestCa, type TestCa } from './test-ca.js';
import { cosignKeySecretYaml } from '../../support/key-secrets.js';
import { makeTempDir, removeDir } from './temp-dir.js';
import { startTokenService, type TokenService } from './token-service.js';

export interface PrivateRegistry {
  readonly ca: TestCa;
  readonly tokens: TokenService;
  readonly registry: DockerRegistry;
  readonly key: CosignKeyPair;
  // `<host>/private/app:v1`, signed with `key`.
  readonly image: string;
  readonly signed: PushedImage;
  readonly username: string;
  // The one password the token service accepts, and another it refuses.
  readonly password: string;
  readonly wrongPassword: string;
  // Both passwords and base64 of user:password for each: no output may hold any of them.
  readonly secretSpellings: readonly string[];
  // The token service is on another port of the registry's host: the operator lists it
  // (TRUSTGATE_TRUST_REALM_HOSTS) for the pull-secret credentials to be sent there.
  readonly realmHostsEnv: Readonly<Record<string, string>>;
  // The `.dockerconfigjson` value for this registry with the given password.
  dockerConfigJson(password: string): string;
  stop(): Promise<void>;
}

// `anonymousPulls`: the token service also grants pulls to requests without credentials (a
// public repository), still refusing wrong ones.
export async function startPrivateRegistry(options: { readonly anonymousPulls?: boolean } = {}): Promise<PrivateRegistry> {
  if (!isDockerRegistryInstalled()) throw new Error('docker-registry is missing: run scripts/install-test-servers.sh');
  const username = 'puller';
  const password = `pw-${randomBytes(12).toString('hex')}`;
  const wrongPassword = `wrong-${randomBytes(12).toString('hex')}`;
  const ca = await createTestCa();
  const tokens = await startTokenService({ ca, issuer: 'auth.trustgate.test', service: 'registry.trustgate.test', credentials: { username, password }, anonymousPulls: options.anonymousPulls === true });
  const registry = await startDockerRegistry(undefined, { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundleFile: tokens.rootCertBundleFile });
  const scratch = await makeTempDir('private-registry');
  const key = await createCosignKey(scratch, 'release');
  const basic = (secret: string): string => Buffer.from(`${username}:${secret}`).toString('base64');
  const token = await publisherToken(tokens, ca.caFile, basic(password), 'repository:private/app:pull,push');
  const publisher = { ...registry, pushHeaders: { authorization: `Bearer ${token}` } };
  const signed = await pushImage(publisher, 'private/app', 'v1');
  await pushCosignSignatures(publisher, 'private/app', signed.digest, [signPayload(key, cosignPayload(`${registry.host}/private/app`, signed.digest))]);
  return {
    ca,
    tokens,
    registry,
    key,
    image: `${registry.host}/private/app:v1`,
    signed,
    username,
    password,
    wrongPassword,
    secretSpellings: [password, wrongPassword, basic(password), basic(wrongPassword)],
    realmHostsEnv: { TRUSTGATE_TRUST_REALM_HOSTS: new URL(tokens.realm).host },
    dockerConfigJson: (secret) => JSON.stringify({ auths: { [registry.host]: { auth: basic(secret) } } }),
    stop: async () => {
      await registry.stop();
      await tokens.stop();
      await removeDir(scratch);
      await ca.remove();
    },
  };
}

// A token the way `docker login` + `docker push` gets one: Basic credentials to the realm.
function publisherToken(tokens: TokenService, caFile: string, basic: string, scope: string): Promise<string> {
  const url = `${tokens.realm}?service=${tokens.service}&scope=${encodeURIComponent(scope)}`;
  return new Promise((resolve, reject) => {
    const outgoing = request(url, { ca: readFileSync(caFile), headers: { authorization: `Basic ${basic}` } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        try {
          resolve((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { token: string }).token);
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

// The policy documents every pull-secret suite uses: a ClusterImagePolicy requiring the
// cosign key for every image of the registry, and the key's Secret in each namespace.
export function privateRegistryPolicy(registry: PrivateRegistry, namespaces: readonly string[]): string[] {
  const policy = [
    'apiVersion: portieris.cloud.ibm.com/v1',
    'kind: ClusterImagePolicy',
    'metadata: {name: private-registry}',
    'spec:',
    '  repositories:',
    `    - name: "${registry.registry.host}/*"`,
    '      policy: {sigstore: {authorities: [{key: {secretName: release-key}}]}}',
  ].join('\n');
  return [policy, ...namespaces.map((namespace) => cosignKeySecretYaml('release-key', namespace, registry.key.publicKeyPem))];
}

// A kubernetes.io/dockerconfigjson Secret document for the policy files.
export function pullSecretDocument(registry: PrivateRegistry, name: string, namespace: string, password: string): string {
  return [
    'apiVersion: v1',
    'kind: Secret',
    `metadata: {name: ${name}, namespace: ${namespace}}`,
    'type: kubernetes.io/dockerconfigjson',
    `data: {.dockerconfigjson: ${Buffer.from(registry.dockerConfigJson(password)).toString('base64')}}`,
  ].join('\n');
}
