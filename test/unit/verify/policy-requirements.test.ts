// collectRequirements is memoised per policy set and (namespace, image): the same inputs
// give the same answer object, and a different set, namespace or image never sees it.
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../shared/errors.js';
import { parseImageReference } from '../../../shared/image/reference.js';
import type { PolicySet } from '../../../shared/policy/model.js';
import { collectRequirements, REQUIREMENTS_MEMO_CAPACITY } from '../../../shared/verify/policy-requirements.js';
import { policySetOf, repository, SERVER_A, SERVER_B, trustedClusterPolicy } from './verify-policy-fixtures.js';

// The cluster policy `trusted` trusting `server` for reg.example.com/team/*, and a namespace
// policy in team-a that lets reg.example.com/open/* through without checks.
function policySet(server: string): PolicySet {
  const open = `apiVersion: portieris.cloud.ibm.com/v1
kind: ImagePolicy
metadata: {name: open, namespace: team-a}
spec:
  repositories:
${repository('reg.example.com/open/*')}`;
  return policySetOf(trustedClusterPolicy(server), open);
}

const TEAM_APP = parseImageReference('reg.example.com/team/app:v1');

function serversOf(set: PolicySet, image: string, namespace: string): readonly (string | undefined)[] {
  return collectRequirements(set, parseImageReference(image), namespace).checks.map((check) => (check.requirement.kind === 'notary' ? check.requirement.server : undefined));
}

describe('collectRequirements', () => {
  describe('when the same set, image and namespace are asked twice', () => {
    it('returns the answer computed the first time', () => {
      const set = policySet(SERVER_A);
      const first = collectRequirements(set, TEAM_APP, 'default');
      expect(collectRequirements(set, parseImageReference('reg.example.com/team/app:v1'), 'default')).toBe(first);
      expect(first.checks.map((check) => (check.requirement.kind === 'notary' ? check.requirement.server : undefined))).toEqual([SERVER_A]);
    });
  });

  describe('when the namespace differs', () => {
    it('answers from that namespace\'s policies, not from the other one\'s memo', () => {
      const set = policySet(SERVER_A);
      expect(collectRequirements(set, parseImageReference('reg.example.com/open/app:v1'), 'team-a').failures).toEqual([]);
      const elsewhere = collectRequirements(set, parseImageReference('reg.example.com/open/app:v1'), 'team-b');
      expect(elsewhere.failures.map((failure) => failure.error.code)).toEqual([ErrorCode.POLICY_NO_MATCH]);
    });
  });

  describe('when the image differs only by tag', () => {
    it('computes a separate answer', () => {
      const set = policySet(SERVER_A);
      const v1 = collectRequirements(set, TEAM_APP, 'default');
      const v2 = collectRequirements(set, parseImageReference('reg.example.com/team/app:v2'), 'default');
      expect(v2).not.toBe(v1);
    });
  });

  describe('when the policies are replaced by a new set', () => {
    it('answers from the new set, never from the old set\'s memo', () => {
      expect(serversOf(policySet(SERVER_A), 'reg.example.com/team/app:v1', 'default')).toEqual([SERVER_A]);
      expect(serversOf(policySet(SERVER_B), 'reg.example.com/team/app:v1', 'default')).toEqual([SERVER_B]);
    });
  });

  describe('when more distinct images arrive than the memo holds', () => {
    it('drops the oldest answer and computes it again, equal to the first', () => {
      const set = policySet(SERVER_A);
      const first = collectRequirements(set, TEAM_APP, 'default');
      for (let i = 0; i < REQUIREMENTS_MEMO_CAPACITY; i += 1) {
        collectRequirements(set, parseImageReference(`reg.example.com/team/app:t${i}`), 'default');
      }
      const again = collectRequirements(set, TEAM_APP, 'default');
      expect(again).not.toBe(first);
      expect(again).toEqual(first);
    });
  });
});
