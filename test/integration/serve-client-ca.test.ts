// `trustgate serve --client-ca FILE`: /admit answers only clients whose certificate chains to
// that CA. Checked through serve's real HTTPS endpoint with certificates made by openssl, and
// with a real kube-apiserver configured (AdmissionConfiguration + kubeconfig) to present its
// client certificate to the webhook, as the README describes.
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectOfKind, podSpec, reviewFor } from '../support/admission-reviews.js';
import { startKubeApiServer, type KubeAnswer, type KubeApiServer } from './support/kube-apiserver.js';
import { createNamespaces } from './support/kube-cluster-setup.js';
import { NAMESPACE_LABEL, podObject, registerWebhook, started, waitUntilWebhookIsEffective, WEBHOOK_NAME } from './support/kube-suite.js';
import { runCommandOrThrow } from './support/run-command.js';
import { uniqueGun } from './support/scenarios.js';
import { signedTestRegistryPolicy } from './support/trust-policies.js';
import { startTrustEnvironment, type TrustEnvironment } from './support/trust-environment.js';
import { httpsRequest, startTrustgateServe, type HttpAnswer, type ServeProcess } from './support/trustgate-serve.js';

const NAMESPACE = `client-ca-${randomBytes(3).toString('hex')}`;

interface ClientCertificate {
  readonly cert: string;
  readonly key: string;
}

let env: TrustEnvironment | undefined;
let kube: KubeApiServer | undefined;
let serve: ServeProcess | undefined;
let app: string;
// Issued by the CA serve is given, and by another CA with the same subject names.
let trusted: ClientCertificate;
let rogue: ClientCertificate;

beforeAll(setUp, 120_000);

async function setUp(): Promise<void> {
  env = await startTrustEnvironment();
  const trust = env;
  const certs = await trust.makeDir('client-certs');
  const clientCaFile = await makeCa(certs, 'client-ca');
  trusted = await makeClientCertificate(certs, 'client-ca', 'apiserver');
  await makeCa(certs, 'rogue-ca');
  rogue = await makeClientCertificate(certs, 'rogue-ca', 'rogue');

  // The API server calls every webhook with the trusted client certificate.
  const webhookKubeconfig = join(certs, 'webhook-client.kubeconfig');
  await writeFile(
    webhookKubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      users: [{ name: '*', user: { 'client-certificate-data': Buffer.from(trusted.cert).toString('base64'), 'client-key-data': Buffer.from(trusted.key).toString('base64') } }],
    }),
    { mode: 0o600 },
  );
  const admissionConfig = join(certs, 'admission.json');
  const webhookPlugin = (name: string): unknown => ({ name, configuration: { apiVersion: 'apiserver.config.k8s.io/v1', kind: 'WebhookAdmissionConfiguration', kubeConfigFile: webhookKubeconfig } });
  await writeFile(admissionConfig, JSON.stringify({ apiVersion: 'apiserver.config.k8s.io/v1', kind: 'AdmissionConfiguration', plugins: [webhookPlugin('MutatingAdmissionWebhook'), webhookPlugin('ValidatingAdmissionWebhook')] }));
  kube = await startKubeApiServer({ admissionConfigFile: admissionConfig });

  app = uniqueGun('client-ca-app');
  await trust.scenarios.signedInTargets(app, 'v1');
  const policiesDir = await trust.makeDir('policies');
  await writeFile(join(policiesDir, 'cluster.yaml'), signedTestRegistryPolicy(trust.server.url));
  serve = await startTrustgateServe({ policiesDir, stateDir: await trust.makeDir('state'), caFile: trust.caFile, extraArgs: ['--client-ca', clientCaFile] });
}

afterAll(async () => {
  await serve?.stop();
  await kube?.stop();
  await env?.stop();
});

// A P-256 CA `name` (name.crt, name.key) in `dir`; answers the certificate's file.
async function makeCa(dir: string, name: string): Promise<string> {
  await runCommandOrThrow('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`),
    '-days', '30', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ], { cwd: dir });
  return join(dir, `${name}.crt`);
}

// A client certificate (EKU clientAuth) for CN=kube-apiserver issued by the CA `ca`.
async function makeClientCertificate(dir: string, ca: string, name: string): Promise<ClientCertificate> {
  const path = (suffix: string): string => join(dir, `${name}.${suffix}`);
  await runCommandOrThrow('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path('key'), '-out', path('csr'), '-subj', '/CN=kube-apiserver'], { cwd: dir });
  await writeFile(path('ext'), 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:false\n');
  await runCommandOrThrow('openssl', ['x509', '-req', '-in', path('csr'), '-CA', join(dir, `${ca}.crt`), '-CAkey', join(dir, `${ca}.key`), '-CAcreateserial', '-out', path('crt'), '-days', '30', '-extfile', path('ext')], { cwd: dir });
  return { cert: await readFile(path('crt'), 'utf8'), key: await readFile(path('key'), 'utf8') };
}

const api = (): KubeApiServer => started(kube, 'kube-apiserver');

// A forged review: a Pod in another namespace naming that namespace's pull secret.
function forgedReview(image: string): string {
  return JSON.stringify(reviewFor('Pod', objectOfKind('Pod', { ...podSpec({ containers: [{ name: 'app', image }] }), imagePullSecrets: [{ name: 'their-registry' }] }), { namespace: 'someone-else' }));
}

// POST /admit over HTTPS, presenting `client` when given.
function postAdmit(client: ClientCertificate | undefined, body: string): Promise<HttpAnswer> {
  const target = serve as ServeProcess;
  return new Promise((resolve, reject) => {
    const outgoing = request(`${target.url}/admit`, { method: 'POST', ca: target.caPem, headers: { 'content-type': 'application/json' }, ...(client === undefined ? {} : { cert: client.cert, key: client.key }) }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

function createPod(image: string): Promise<KubeAnswer> {
  const name = `pod-${randomBytes(4).toString('hex')}`;
  return api().request('POST', `/api/v1/namespaces/${NAMESPACE}/pods?dryRun=All`, podObject(NAMESPACE, name, image));
}

function deniedByWebhook(answer: KubeAnswer): boolean {
  return answer.status === 403 && String(answer.body['message']).includes(`admission webhook "${WEBHOOK_NAME}" denied the request`);
}

describe('serve --client-ca', () => {
  describe('when a forged AdmissionReview is posted to /admit', () => {
    it('refuses it with 401 UNAUTHORIZED without a client certificate', async () => {
      const answer = await postAdmit(undefined, forgedReview(`${app}:v1`));
      expect(answer.status).toBe(401);
      expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
      expect(serve?.output()).not.toContain('their-registry');
    });

    it('refuses it with a certificate from another CA', async () => {
      const answer = await postAdmit(rogue, forgedReview(`${app}:v1`));
      expect(answer.status).toBe(401);
      expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    });
  });

  describe('when the client presents a certificate issued by the client CA', () => {
    it('decides the review', async () => {
      const answer = await postAdmit(trusted, forgedReview(`${app}:v1`));
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.text)).toMatchObject({ response: { allowed: true } });
    });
  });

  describe('for probes and Prometheus', () => {
    it('answers /healthz, /readyz and /metrics without a client certificate', async () => {
      const target = serve as ServeProcess;
      for (const path of ['/healthz', '/readyz', '/metrics']) expect((await httpsRequest(`${target.url}${path}`, target.caPem)).status, path).toBe(200);
    });
  });

  describe('behind a kube-apiserver that presents its client certificate to webhooks', () => {
    it('admits the signed Pod and denies the unsigned one through the API server', async () => {
      const target = serve as ServeProcess;
      await createNamespaces(api(), [{ name: NAMESPACE, labels: { [NAMESPACE_LABEL]: 'true' } }]);
      await registerWebhook(api(), { name: `trustgate-${NAMESPACE}`, webhook: WEBHOOK_NAME, url: `${target.url}/admit`, caPem: target.caPem });
      // Configurations load asynchronously: wait until the unsigned Pod is denied by serve.
      await waitUntilWebhookIsEffective(api(), NAMESPACE, podObject(NAMESPACE, 'probe', `${app}:unsigned`), deniedByWebhook, () => target.output());
      const unsigned = await createPod(`${app}:unsigned`);
      expect(deniedByWebhook(unsigned), `${unsigned.text}\n${target.output()}`).toBe(true);
      expect(String(unsigned.body['message'])).toContain('[TRUST_NO_SIGNED_TARGET]');
      const signed = await createPod(`${app}:v1`);
      expect(signed.status, signed.text).toBe(201);
    });
  });
});
