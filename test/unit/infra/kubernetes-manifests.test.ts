// The security-relevant settings of the in-cluster manifests: a change that weakens one of
// them (fail open, extra admission versions, the webhook's own namespace checked, root
// containers, too few replicas) fails here.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { anyString } from '../../support/matchers.js';
import { parseAllDocuments } from 'yaml';
import { objectAt, valueAt, type JsonObject as Doc } from '../../support/json-paths.js';

const DIR = fileURLToPath(new URL('../../../infra/kubernetes/', import.meta.url));
const CONFIGMAP_DIR = fileURLToPath(new URL('../../../infra/policies-from-configmap/', import.meta.url));

function documents(dir = DIR): Doc[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.yaml'))
    .flatMap((name) => parseFile(`${dir}${name}`));
}

function parseFile(file: string): Doc[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message}`);
    return doc.toJS() as Doc;
  });
}

function only(kind: string, name?: string): Doc {
  const found = documents().filter((doc) => doc['kind'] === kind && (name === undefined || valueAt(doc, ['metadata', 'name']) === name));
  expect(found, kind).toHaveLength(1);
  return found[0] as Doc;
}


describe('infra/kubernetes', () => {
  describe.each([
    ['MutatingWebhookConfiguration', '/admit'],
    ['ValidatingWebhookConfiguration', '/validate'],
  ])('the %s', (kind, path) => {
    const webhook = (only(kind)['webhooks'] as Doc[])[0] as Doc;

    it('fails closed, has no side effects, speaks v1 only and answers within 10 s', () => {
      expect(webhook['failurePolicy']).toBe('Fail');
      expect(webhook['sideEffects']).toBe('None');
      expect(webhook['admissionReviewVersions']).toEqual(['v1']);
      expect(webhook['timeoutSeconds']).toBe(10);
      expect(valueAt(webhook, ['clientConfig', 'service'])).toMatchObject({ name: 'trustgate', namespace: 'trustgate-system', path, port: 443 });
    });

    it('leaves out exactly trustgate-system and kube-system by their API-server-set name label', () => {
      expect(webhook['namespaceSelector']).toEqual({
        matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['trustgate-system', 'kube-system'] }],
      });
      expect(webhook['objectSelector']).toBeUndefined();
    });

    it('covers every kind the decoder admits, ephemeral containers included, on CREATE and UPDATE', () => {
      const rules = webhook['rules'] as Doc[];
      const covered = rules.flatMap((rule) =>
        (rule['apiGroups'] as string[]).flatMap((group) =>
          (rule['apiVersions'] as string[]).flatMap((version) => (rule['resources'] as string[]).map((resource) => `${group}/${version}/${resource}`)),
        ),
      );
      expect(covered).toEqual(
        expect.arrayContaining([
          '/v1/pods',
          '/v1/pods/ephemeralcontainers',
          '/v1/replicationcontrollers',
          '/v1/podtemplates',
          'apps/v1/deployments',
          'apps/v1/replicasets',
          'apps/v1/statefulsets',
          'apps/v1/daemonsets',
          'batch/v1/jobs',
          'batch/v1/cronjobs',
          'batch/v1beta1/cronjobs',
        ]),
      );
      for (const rule of rules) expect(rule['operations']).toEqual(['CREATE', 'UPDATE']);
    });
  });

  it('validates exactly what it mutates', () => {
    const mutating = (only('MutatingWebhookConfiguration')['webhooks'] as Doc[])[0] as Doc;
    const validating = (only('ValidatingWebhookConfiguration')['webhooks'] as Doc[])[0] as Doc;
    expect(validating['rules']).toEqual(mutating['rules']);
    expect(validating['matchPolicy']).toBe(mutating['matchPolicy']);
  });

  it('installs both webhooks with kustomize', () => {
    const kustomization = parseFile(`${DIR}kustomization.yaml`)[0] as Doc;
    expect(kustomization['resources']).toEqual(expect.arrayContaining(['mutating-webhook.yaml', 'validating-webhook.yaml']));
  });

  describe('the Deployment', () => {
    const deployment = only('Deployment');
    const pod = objectAt(deployment, ['spec', 'template', 'spec']);
    const container = objectAt(pod, ['containers', 0]);

    it('runs at least two replicas, kept by a PodDisruptionBudget', () => {
      expect(valueAt(deployment, ['spec', 'replicas'])).toBeGreaterThanOrEqual(2);
      expect(valueAt(only('PodDisruptionBudget'), ['spec', 'minAvailable'])).toBeGreaterThanOrEqual(1);
    });

    it('runs as non-root on a read-only root filesystem without privileges', () => {
      expect(valueAt(pod, ['securityContext', 'runAsNonRoot'])).toBe(true);
      expect(container['securityContext']).toMatchObject({
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      });
    });

    it('probes liveness on /healthz and readiness on /readyz over HTTPS and sets resource requests and limits', () => {
      expect(valueAt(container, ['livenessProbe', 'httpGet'])).toMatchObject({ path: '/healthz', scheme: 'HTTPS' });
      expect(valueAt(container, ['readinessProbe', 'httpGet'])).toMatchObject({ path: '/readyz', scheme: 'HTTPS' });
      expect(valueAt(container, ['resources', 'requests'])).toMatchObject({ cpu: anyString(), memory: anyString() });
      expect(valueAt(container, ['resources', 'limits'])).toMatchObject({ cpu: anyString(), memory: anyString() });
    });

    it('serves the TLS Secret, reads policies from the API server, keeps state in an emptyDir', () => {
      const args = container['args'] as string[];
      expect(args[0]).toBe('serve');
      const volumes = Object.fromEntries((pod['volumes'] as Doc[]).map((volume) => [volume['name'] as string, volume] as const));
      const mounts = Object.fromEntries((container['volumeMounts'] as Doc[]).map((mount) => [mount['name'] as string, mount['mountPath'] as string] as const));
      expect(valueAt(volumes, ['tls', 'secret', 'secretName'])).toBe('trustgate-tls');
      expect(valueAt(volumes, ['state', 'emptyDir'])).toBeDefined();
      expect(args).toEqual(
        expect.arrayContaining(['--policies-from-cluster', `--tls-cert=${mounts['tls']}/tls.crt`, `--tls-key=${mounts['tls']}/tls.key`, `--state-dir=${mounts['state']}`]),
      );
      expect(args.some((arg) => arg.startsWith('--policies='))).toBe(false);
    });

    it('mounts the service-account token only in its own pods: the account does not by default', () => {
      expect(pod['serviceAccountName']).toBe('trustgate');
      expect(pod['automountServiceAccountToken']).toBe(true);
      expect(only('ServiceAccount')['automountServiceAccountToken']).toBe(false);
    });
  });

  describe('the RBAC rules', () => {
    const rulesOf = (doc: Doc): Doc[] => doc['rules'] as Doc[];
    const grants = (rules: readonly Doc[]): string[] =>
      rules.flatMap((rule) =>
        (rule['apiGroups'] as string[]).flatMap((group) => (rule['resources'] as string[]).flatMap((resource) => (rule['verbs'] as string[]).map((verb) => `${group}/${resource}:${verb}`))),
      );

    it('let the ClusterRole read the two policy kinds and Secrets and create Events, nothing else', () => {
      expect(grants(rulesOf(only('ClusterRole', 'trustgate'))).sort()).toEqual(
        [
          'portieris.cloud.ibm.com/imagepolicies:get',
          'portieris.cloud.ibm.com/imagepolicies:list',
          'portieris.cloud.ibm.com/imagepolicies:watch',
          'portieris.cloud.ibm.com/clusterimagepolicies:get',
          'portieris.cloud.ibm.com/clusterimagepolicies:list',
          'portieris.cloud.ibm.com/clusterimagepolicies:watch',
          '/secrets:get',
          '/secrets:list',
          '/secrets:watch',
          '/events:create',
        ].sort(),
      );
      for (const rule of rulesOf(only('ClusterRole', 'trustgate'))) expect(rule['resourceNames']).toBeUndefined();
    });

    it('let the Role touch only Leases, in trustgate-system, without delete', () => {
      const role = only('Role', 'trustgate-leases');
      expect(valueAt(role, ['metadata', 'namespace'])).toBe('trustgate-system');
      expect(grants(rulesOf(role)).sort()).toEqual(['coordination.k8s.io/leases:create', 'coordination.k8s.io/leases:get', 'coordination.k8s.io/leases:update']);
    });

    it.each([
      ['ClusterRoleBinding', 'ClusterRole', 'trustgate'],
      ['RoleBinding', 'Role', 'trustgate-leases'],
    ])('bind the %s to the trustgate service account alone', (kind, roleKind, name) => {
      const binding = only(kind, name);
      expect(binding['roleRef']).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: roleKind, name });
      expect(binding['subjects']).toEqual([{ kind: 'ServiceAccount', name: 'trustgate', namespace: 'trustgate-system' }]);
    });

    it('are installed with kustomize', () => {
      const kustomization = parseFile(`${DIR}kustomization.yaml`)[0] as Doc;
      expect(kustomization['resources']).toEqual(expect.arrayContaining(['service-account.yaml', 'rbac.yaml', 'deployment.yaml']));
    });
  });

  describe('the ConfigMap alternative (infra/policies-from-configmap)', () => {
    const kustomization = parseFile(`${CONFIGMAP_DIR}kustomization.yaml`)[0] as Doc;
    const patch = parseFile(`${CONFIGMAP_DIR}deployment-patch.yaml`)[0] as unknown as Doc[];
    const args = objectAt(only('Deployment'), ['spec', 'template', 'spec', 'containers', 0])['args'] as string[];

    it('builds on the same manifests and adds the policies ConfigMap', () => {
      expect(kustomization['resources']).toEqual(['../kubernetes', 'policies-configmap.yaml']);
      expect(documents(CONFIGMAP_DIR).filter((doc) => doc['kind'] === 'ConfigMap').map((doc) => valueAt(doc, ['metadata', 'name']))).toEqual(['trustgate-policies']);
    });

    it('swaps --policies-from-cluster for the mounted folder, at the index the base Deployment has it', () => {
      const index = args.indexOf('--policies-from-cluster');
      expect(patch).toEqual(
        expect.arrayContaining([
          { op: 'test', path: `/spec/template/spec/containers/0/args/${index}`, value: '--policies-from-cluster' },
          { op: 'replace', path: `/spec/template/spec/containers/0/args/${index}`, value: '--policies=/etc/trustgate/policies' },
          { op: 'add', path: '/spec/template/spec/containers/0/volumeMounts/-', value: { name: 'policies', mountPath: '/etc/trustgate/policies', readOnly: true } },
          { op: 'add', path: '/spec/template/spec/volumes/-', value: { name: 'policies', configMap: { name: 'trustgate-policies' } } },
          { op: 'replace', path: '/spec/template/spec/automountServiceAccountToken', value: false },
        ]),
      );
    });

    it('leaves out the ClusterRole and its binding, since serve then reads no API', () => {
      const deleted = (kustomization['patches'] as Doc[]).map((entry) => entry['patch']).filter((text): text is string => typeof text === 'string');
      expect(deleted.some((text) => text.includes('$patch: delete') && text.includes('kind: ClusterRole\n'))).toBe(true);
      expect(deleted.some((text) => text.includes('$patch: delete') && text.includes('kind: ClusterRoleBinding'))).toBe(true);
    });
  });

  describe('the Service', () => {
    it('maps 443 to the container port 8443', () => {
      const service = only('Service');
      expect(valueAt(service, ['spec', 'ports', 0])).toMatchObject({ port: 443, targetPort: 'https' });
      const container = objectAt(only('Deployment'), ['spec', 'template', 'spec', 'containers', 0]);
      expect(valueAt(container, ['ports', 0])).toMatchObject({ name: 'https', containerPort: 8443 });
    });
  });
});
