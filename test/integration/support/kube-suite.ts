// What the Kubernetes suites share besides the cluster set-up (kube-cluster-setup.ts):
// starting their servers together, waiting for what the cluster does asynchronously, the
// objects they create (Pods, Secrets, policies, webhook configurations), and reading serve's
// decisions and metrics.
import { startKubeApiServer, type KubeAnswer, type KubeApiServer, type KubeObject } from './kube-apiserver.js';
import { expectStatus } from './kube-cluster-setup.js';
import { startTrustEnvironment, type TrustEnvironment } from './trust-environment.js';
import { TEST_GUN_PATTERN } from './trust-policies.js';
import { admitPodImage, httpsRequest, type ServeProcess } from './trustgate-serve.js';

// The label the webhooks' namespaceSelector matches: only a suite's labelled namespaces are
// checked by them.
export const NAMESPACE_LABEL = 'trustgate.test/enforce';
// The name serve's mutating webhook is registered under.
export const WEBHOOK_NAME = 'images.trustgate.test';
// How long the API server may take to call a webhook once its configuration is created.
const WEBHOOK_EFFECTIVE_MS = 15_000;

// Waits for every start, then fails with the first failure. Each start keeps what it started
// itself, so afterAll stops what did start even when another start failed.
export async function startTogether(...starts: readonly Promise<unknown>[]): Promise<void> {
  for (const result of await Promise.allSettled(starts)) if (result.status === 'rejected') throw result.reason;
}

// `value`, started by the suite's set-up; a test run after a failed set-up fails naming `what`.
export function started<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} did not start`);
  return value;
}

export type Eventually = (what: string, condition: () => Promise<boolean>) => Promise<void>;

export interface EventuallyBounds {
  // Only keeps a broken build from hanging; the documented latencies are far lower.
  readonly withinMs?: number;
  readonly everyMs?: number;
}

// A poll that waits until `condition` holds, or fails after `withinMs` naming `what` and
// showing `log()` (serve's output, the last answer seen).
export function eventuallyShowing(log: () => string, bounds: EventuallyBounds = {}): Eventually {
  const { withinMs = 20_000, everyMs = 100 } = bounds;
  return async (what, condition) => {
    const deadline = Date.now() + withinMs;
    while (Date.now() < deadline) {
      if (await condition()) return;
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
    throw new Error(`not seen within ${withinMs} ms: ${what}\n${log()}`);
  };
}

// A suite's trust environment, API server and serve, each kept once started so that `stop`
// stops whatever did start; and what the suite reads of them.
export interface ServedCluster {
  // Starts the trust environment and the API server together.
  readonly start: () => Promise<void>;
  // Keeps `serve`, started by the suite once the cluster is set up, and answers it.
  readonly serving: (serve: ServeProcess) => ServeProcess;
  // Stops serve, then the API server, then the trust environment.
  readonly stop: () => Promise<void>;
  readonly trust: () => TrustEnvironment;
  readonly api: () => KubeApiServer;
  readonly serve: () => ServeProcess;
  // serve's output so far ('' before it started).
  readonly log: () => string;
  // Polls showing serve's output when they fail.
  readonly eventually: Eventually;
  // metricValue and admitDecision of serve.
  readonly metric: (name: string, labels?: Readonly<Record<string, string>>) => Promise<number>;
  readonly decision: (namespace: string, image: string) => Promise<{ allowed: boolean; message: string }>;
}

// A ServedCluster with nothing started yet: the suite calls `start` in beforeAll, hands serve
// to `serving` once started, and `stop` in afterAll.
export function servedCluster(): ServedCluster {
  let env: TrustEnvironment | undefined;
  let kube: KubeApiServer | undefined;
  let serving: ServeProcess | undefined;
  const serve = (): ServeProcess => started(serving, 'serve');
  const log = (): string => serving?.output() ?? '';
  return {
    start: () => startTogether(startTrustEnvironment().then((value) => (env = value)), startKubeApiServer().then((value) => (kube = value))),
    serving: (value) => (serving = value),
    stop: async () => {
      await serving?.stop();
      await kube?.stop();
      await env?.stop();
    },
    trust: () => started(env, 'the trust environment'),
    api: () => started(kube, 'kube-apiserver'),
    serve,
    log,
    eventually: eventuallyShowing(log),
    metric: (name, labels) => metricValue(serve(), name, labels),
    decision: (namespace, image) => admitDecision(serve(), namespace, image),
  };
}

// The API server loads webhook configurations asynchronously: a dry-run create of `probe` in
// `namespace` is answered without the webhook until it is in effect, which `inEffect` tells
// from the answer.
export async function waitUntilWebhookIsEffective(api: KubeApiServer, namespace: string, probe: KubeObject, inEffect: (answer: KubeAnswer) => boolean, log: () => string): Promise<void> {
  let last: KubeAnswer | undefined;
  const eventually = eventuallyShowing(() => `last answer ${last?.status}: ${last?.text}\n${log()}`, { withinMs: WEBHOOK_EFFECTIVE_MS });
  await eventually('the webhook is in effect', async () => {
    last = await api.request('POST', `/api/v1/namespaces/${namespace}/pods?dryRun=All`, probe);
    return inEffect(last);
  });
}

// Whether the API server refused `answer` because the webhook `webhook` denied it.
export function deniedBy(answer: KubeAnswer, webhook: string): boolean {
  return answer.status !== 201 && typeof answer.body['message'] === 'string' && answer.body['message'].includes(`admission webhook "${webhook}" denied the request`);
}

// A Pod whose container `app` runs `image`, with the rest of `spec`.
export function podObject(namespace: string, name: string, image: string, spec: KubeObject = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace }, spec: { containers: [{ name: 'app', image }], ...spec } };
}

// An Opaque Secret holding `stringData`.
export function opaqueSecret(namespace: string, name: string, stringData: Readonly<Record<string, string>>): KubeObject {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, type: 'Opaque', stringData };
}

// A Notary signer Secret for alice's key; `padding` bytes of filler make it as large as a test
// needs.
export function signerSecret(namespace: string, name: string, publicKeyPem: string, padding = 0): KubeObject {
  return opaqueSecret(namespace, name, { name: 'alice', publicKey: publicKeyPem, ...(padding === 0 ? {} : { padding: 'x'.repeat(padding) }) });
}

// A pull secret holding a docker config.json.
export function pullSecret(namespace: string, name: string, dockerConfigJson: string): KubeObject {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': Buffer.from(dockerConfigJson).toString('base64') } };
}

// An ImagePolicy of `repositories` in `namespace`.
export function imagePolicy(namespace: string, name: string, repositories: readonly KubeObject[], annotations?: Readonly<Record<string, string>>): KubeObject {
  return { apiVersion: 'portieris.cloud.ibm.com/v1', kind: 'ImagePolicy', metadata: { name, namespace, ...(annotations === undefined ? {} : { annotations }) }, spec: { repositories } };
}

// An ImagePolicy requiring the test images to be signed on `trustServer` by the key of the
// signer Secret `signerSecretName`.
export function signerImagePolicy(namespace: string, name: string, trustServer: string, signerSecretName: string, annotations?: Readonly<Record<string, string>>): KubeObject {
  return imagePolicy(namespace, name, [{ name: TEST_GUN_PATTERN, policy: { trust: { enabled: true, trustServer, signerSecrets: [{ name: signerSecretName }] } } }], annotations);
}

// A ClusterImagePolicy of `repositories`.
export function clusterImagePolicy(name: string, repositories: readonly KubeObject[]): KubeObject {
  return { apiVersion: 'portieris.cloud.ibm.com/v1', kind: 'ClusterImagePolicy', metadata: { name }, spec: { repositories } };
}

export interface WebhookRegistration {
  // The configuration's name, and the webhook's in it.
  readonly name: string;
  readonly webhook: string;
  readonly type?: 'mutating' | 'validating';
  // Where the API server calls it, trusting only `caPem`.
  readonly url: string;
  readonly caPem: string;
  // [apiGroup, apiVersion, resource] of what it is called for; pods when absent.
  readonly resources?: readonly (readonly [string, string, string])[];
  readonly objectSelector?: KubeObject;
}

// A webhook configuration calling `url` for every CREATE and UPDATE of `resources` in the
// namespaces labelled NAMESPACE_LABEL, failing closed.
export function webhookConfiguration(registration: WebhookRegistration): KubeObject {
  const { name, webhook, type = 'mutating', url, caPem, resources = [['', 'v1', 'pods']], objectSelector } = registration;
  const rules = resources.map(([apiGroup, apiVersion, resource]) => ({ apiGroups: [apiGroup], apiVersions: [apiVersion], resources: [resource], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' }));
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: type === 'mutating' ? 'MutatingWebhookConfiguration' : 'ValidatingWebhookConfiguration',
    metadata: { name },
    webhooks: [
      {
        name: webhook,
        clientConfig: { url, caBundle: Buffer.from(caPem).toString('base64') },
        rules,
        namespaceSelector: { matchLabels: { [NAMESPACE_LABEL]: 'true' } },
        ...(objectSelector === undefined ? {} : { objectSelector }),
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        failurePolicy: 'Fail',
        timeoutSeconds: 10,
      },
    ],
  };
}

// Creates the webhook configuration of `registration`.
export async function registerWebhook(api: KubeApiServer, registration: WebhookRegistration): Promise<void> {
  const plural = registration.type === 'validating' ? 'validatingwebhookconfigurations' : 'mutatingwebhookconfigurations';
  expectStatus(await api.request('POST', `/apis/admissionregistration.k8s.io/v1/${plural}`, webhookConfiguration(registration)), 201);
}

// Replaces a stored object, keeping its resourceVersion (an update, as `kubectl edit` makes).
export async function updateObject(api: KubeApiServer, path: string, change: (stored: KubeObject) => KubeObject): Promise<void> {
  const stored = expectStatus(await api.request('GET', path), 200).body;
  expectStatus(await api.request('PUT', path, change(stored)), 200);
}

// serve's /admit decision on a Pod running `image` in `namespace`.
export async function admitDecision(serve: ServeProcess, namespace: string, image: string): Promise<{ allowed: boolean; message: string }> {
  const answer = await admitPodImage(serve, image, namespace);
  return { allowed: answer.response.allowed, message: answer.response.status.message };
}

// A value of serve's /metrics `name`: without `labels`, its unlabelled series; with them, the
// sum of its series that carry every label given. 0 when there is none.
export async function metricValue(serve: ServeProcess, name: string, labels?: Readonly<Record<string, string>>): Promise<number> {
  const answer = await httpsRequest(`${serve.url}/metrics`, serve.caPem);
  const lines = answer.text.split('\n');
  if (labels === undefined) {
    const line = lines.find((candidate) => candidate.startsWith(`${name} `));
    return line === undefined ? 0 : Number(line.slice(name.length + 1));
  }
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  let sum = 0;
  for (const line of lines) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = /\{(.*)\}/.exec(line)?.[1] ?? '';
    if (wanted.every((pair) => labelText.split(',').includes(pair))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
