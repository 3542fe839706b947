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

function documents(): Doc[] {
  return readdirSync(DIR)
    .filter((name) => name.endsWith('.yaml'))
    .flatMap((name) =>
      parseAllDocuments(readFileSync(`${DIR}${name}`, 'utf8')).map((doc) => {
        if (doc.errors.length > 0) throw new Error(`${name}: ${doc.errors[0]?.message}`);
        return doc.toJS() as Doc;
      }),
    );
}

function only(kind: string): Doc {
  const found = documents().filter((doc) => doc['kind'] === kind);
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
    const kustomization = parseAllDocuments(readFileSync(`${DIR}kustomization.yaml`, 'utf8'))[0]?.toJS() as Doc;
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
      expect(pod['automountServiceAccountToken']).toBe(false);
    });

    it('probes /healthz over HTTPS and sets resource requests and limits', () => {
      for (const probe of ['readinessProbe', 'livenessProbe']) {
        expect(valueAt(container, [probe, 'httpGet'])).toMatchObject({ path: '/healthz', scheme: 'HTTPS' });
      }
      expect(valueAt(container, ['resources', 'requests'])).toMatchObject({ cpu: anyString(), memory: anyString() });
      expect(valueAt(container, ['resources', 'limits'])).toMatchObject({ cpu: anyString(), memory: anyString() });
    });

    it('serves the TLS Secret, reads policies from the ConfigMap folder, keeps state in an emptyDir', () => {
      const args = container['args'] as string[];
      expect(args[0]).toBe('serve');
      const volumes = Object.fromEntries((pod['volumes'] as Doc[]).map((volume) => [volume['name'] as string, volume] as const));
      const mounts = Object.fromEntries((container['volumeMounts'] as Doc[]).map((mount) => [mount['name'] as string, mount['mountPath'] as string] as const));
      expect(valueAt(volumes, ['tls', 'secret', 'secretName'])).toBe('trustgate-tls');
      expect(valueAt(volumes, ['policies', 'configMap', 'name'])).toBe('trustgate-policies');
      expect(valueAt(volumes, ['state', 'emptyDir'])).toBeDefined();
      expect(args).toEqual(
        expect.arrayContaining([
          `--policies=${mounts['policies']}`,
          `--tls-cert=${mounts['tls']}/tls.crt`,
          `--tls-key=${mounts['tls']}/tls.key`,
          `--state-dir=${mounts['state']}`,
        ]),
      );
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
