import { describe, expect, it } from 'vitest';
import { parseImageReference } from '../../../shared/image/reference.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';
import { answerPolicyLookup, toPolicyLookupResponse } from '../../../shared/policy/policy-lookup.js';
import { REGISTRY_POLICY_MATCH, registryClusterPolicy } from '../../support/policy-fixtures.js';

const SET = decodePolicyDocuments([
  {
    source: 'policies.yaml',
    text: `${registryClusterPolicy()}---
apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata: {name: baseline, annotations: {trustgate.dev/enforce: "true"}}
spec:
  repositories:
    - name: reg.example.com/prod/*
      policy: {mutateImage: false, trust: {enabled: true}}
---
apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: open, namespace: sandbox}
spec:
  repositories:
    - name: "*"
`,
  },
]);

const request = (image: string, namespace: string) => ({ image: parseImageReference(image), namespace });

describe('toPolicyLookupResponse', () => {
  describe('when a ClusterImagePolicy governs the image', () => {
    it('answers the policy with its defaults and where it comes from', () => {
      expect(toPolicyLookupResponse(SET, request('reg.example.com/team/app:v1', 'default'))).toEqual(REGISTRY_POLICY_MATCH);
    });
  });

  describe('when the namespace has its own ImagePolicy and an enforced policy matches', () => {
    it('answers the namespace policy and lists the enforced one', () => {
      expect(toPolicyLookupResponse(SET, request('reg.example.com/prod/app:v1', 'sandbox'))).toEqual({
        matched: true,
        policy: { mode: 'enforce', mutateImage: true, trust: { enabled: false, signerSecrets: [], rootKeyIds: [] } },
        source: { kind: 'ImagePolicy', name: 'open', namespace: 'sandbox', pattern: '*' },
        enforced: [
          {
            policy: { mode: 'enforce', mutateImage: false, trust: { enabled: true, signerSecrets: [], rootKeyIds: [] } },
            source: { kind: 'ClusterImagePolicy', name: 'baseline', pattern: 'reg.example.com/prod/*' },
          },
        ],
      });
    });
  });

  describe('when nothing matches', () => {
    it('answers matched false with the reason', () => {
      const response = toPolicyLookupResponse(SET, request('other.example.com/app', 'default'));
      expect(response).toMatchObject({ matched: false, enforced: [] });
      expect(response.matched ? '' : response.reason).toContain('other.example.com/app:latest');
    });
  });
});

describe('answerPolicyLookup', () => {
  describe('when no policies are configured', () => {
    it('answers that no policies are configured', async () => {
      expect(await answerPolicyLookup({}, request('nginx', 'default'))).toEqual({ matched: false, reason: 'no policies are configured', enforced: [] });
    });
  });

  describe('when policies are configured', () => {
    it('looks the image up in them', async () => {
      const response = await answerPolicyLookup({ policies: () => Promise.resolve(SET) }, request('reg.example.com/a', 'default'));
      expect(response.matched).toBe(true);
    });
  });
});
