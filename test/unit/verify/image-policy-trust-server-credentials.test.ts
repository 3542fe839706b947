// Trust-server credentials and namespace policies: with policies from the cluster, an
// ImagePolicy is a namespaced object any namespace admin may write. A trust server it names is
// the namespace's choice, so the operator's trust-server credentials never go there.
import { describe, expect, it } from 'vitest';
import { parseImageReference } from '../../../shared/image/reference.js';
import { createClusterPolicyObjects } from '../../../shared/policy/cluster-policy-objects.js';
import { createTokenAuth } from '../../../shared/registry/token-auth.js';
import type { HttpRequest, HttpResponse } from '../../../shared/ports.js';
import type { NotaryRequirement } from '../../../shared/trust/verifier.js';
import { collectRequirements } from '../../../shared/verify/policy-requirements.js';

const EVIL = 'https://notary.evil.example';

describe('a trust server named by a namespace ImagePolicy', () => {
  it('never receives the operator trust-server credentials', async () => {
    const objects = createClusterPolicyObjects();
    objects.apply('ImagePolicy', {
      metadata: { name: 'mine', namespace: 'tenant', uid: 'u1' },
      spec: { repositories: [{ name: '*', policy: { trust: { enabled: true, trustServer: EVIL } } }] },
    });
    const collected = collectRequirements(objects.toPolicySet(), parseImageReference('reg.example.com/tenant/app:1'), 'tenant');
    const requirement = collected.checks[0]?.requirement as NotaryRequirement;
    expect(requirement.server).toBe(EVIL);
    expect(requirement.serverFromCaller).toBe(true);
    // As the Notary verifier decides the origin:
    const origin = requirement.serverFromCaller === true && requirement.server !== undefined ? 'caller' : 'operator';

    const sent: HttpRequest[] = [];
    const fetch = (request: HttpRequest): Promise<HttpResponse> => {
      sent.push(request);
      return Promise.resolve({ status: 200, header: () => undefined, body: new TextEncoder().encode(JSON.stringify({ token: 'tok' })) });
    };
    const tokens = createTokenAuth({ fetch, credentials: { username: 'ops', password: 'OPERATOR-SECRET' }, timeoutMs: 1000, now: () => 0 });
    await tokens.forServer(requirement.server ?? '', origin).getToken({ realm: `${EVIL}/token`, service: 'evil', scope: 'repository:x:pull' }).catch(() => undefined);
    const leaked = sent.filter((request) => (request.headers?.['authorization'] ?? '').includes(Buffer.from('ops:OPERATOR-SECRET').toString('base64')));
    expect(leaked.map((request) => request.url)).toEqual([]);
  });
});
