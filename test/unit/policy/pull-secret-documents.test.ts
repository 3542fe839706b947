// Pull Secrets and ServiceAccounts in the policy files: decoded and checked when the files
// load, and resolved for a workload the way the kubelet and Portieris use them.
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../shared/errors.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';
import { pullSecretsFromPolicySet } from '../../../shared/registry/workload-pull-secrets.js';
import { thrownError } from '../../support/trustgate-errors.js';

const SECRET_VALUE = 'pw-never-printed';

function pullSecret(name: string, namespace: string, config: unknown, type = 'kubernetes.io/dockerconfigjson'): string {
  const text = typeof config === 'string' ? config : JSON.stringify(config);
  return `apiVersion: v1\nkind: Secret\nmetadata: {name: ${name}, namespace: ${namespace}}\ntype: ${type}\ndata: {.dockerconfigjson: ${Buffer.from(text).toString('base64')}}`;
}

function auths(user: string): unknown {
  return { auths: { 'reg.example': { auth: Buffer.from(`${user}:${SECRET_VALUE}`).toString('base64') } } };
}

function decode(...documents: string[]) {
  return decodePolicyDocuments([{ source: 'pull.yaml', text: documents.join('\n---\n') }]);
}

describe('pull secrets in the policy files', () => {
  it("resolve the pod's pull secrets first, then its service account's, skipping missing and other Secrets", () => {
    const set = decode(
      pullSecret('pod-secret', 'team', auths('pod')),
      pullSecret('account-secret', 'team', auths('account')),
      pullSecret('pod-secret', 'other', auths('elsewhere')),
      'apiVersion: v1\nkind: Secret\nmetadata: {name: opaque, namespace: team}\nstringData: {token: x}',
      'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: team}\nimagePullSecrets: [{name: account-secret}, {name: missing}]',
    );
    const users = (imagePullSecrets: string[], serviceAccount = 'default') =>
      pullSecretsFromPolicySet(set, 'team', { imagePullSecrets, serviceAccount }).map((entry) => entry.credential.username);
    expect(users(['pod-secret', 'opaque'])).toEqual(['pod', 'account']);
    expect(users([])).toEqual(['account']);
    expect(users(['pod-secret'], 'builder')).toEqual(['pod']);
  });

  it('refuse a pull secret that does not decode as POLICY_INVALID at load time, naming the Secret and no value', () => {
    const error = thrownError(() => decode(pullSecret('broken', 'team', `{"auths": {"reg.example": {"auth": "${SECRET_VALUE}"`)));
    expect(error.code).toBe(ErrorCode.POLICY_INVALID);
    expect(error.problems[0]?.path).toContain('data');
    expect(error.message).toContain('Secret team/broken');
    expect(JSON.stringify(error.problems) + error.message).not.toContain(SECRET_VALUE);
  });

  it('refuse a ServiceAccount whose imagePullSecrets are not Secret names', () => {
    const error = thrownError(() => decode('apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: team}\nimagePullSecrets: [{name: "Not A Name"}]'));
    expect(error.code).toBe(ErrorCode.POLICY_INVALID);
  });
});
