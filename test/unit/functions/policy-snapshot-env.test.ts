// How a deployed function's environment selects the cluster's policy snapshot.
import { describe, expect, it } from 'vitest';
import { buildPolicyLookupDeps } from '../../../functions/platform/runtime-deps.js';
import { ErrorCode } from '../../../shared/errors.js';
import { fixedClock } from '../../support/clocks.js';
import { thrownError } from '../../support/trustgate-errors.js';

const clock = fixedClock(new Date(0));

describe('TRUSTGATE_POLICY_CLUSTER_ID', () => {
  describe('when TRUSTGATE_POLICIES is set too', () => {
    it('refuses the configuration with CONFIG_INVALID', () => {
      const error = thrownError(() => buildPolicyLookupDeps({ TRUSTGATE_POLICY_CLUSTER_ID: 'prod', TRUSTGATE_POLICIES: 'examples/policies', TRUSTGATE_STATE_DIR: '/nonexistent' }, clock));
      expect(error.code).toBe(ErrorCode.CONFIG_INVALID);
    });
  });

  describe('when no persistent store is configured', () => {
    it('refuses the configuration with CONFIG_INVALID: nothing could have published there', () => {
      expect(thrownError(() => buildPolicyLookupDeps({ TRUSTGATE_POLICY_CLUSTER_ID: 'prod' }, clock)).code).toBe(ErrorCode.CONFIG_INVALID);
    });
  });

  describe('when the cluster id or the refresh is malformed', () => {
    it.each([
      [{ TRUSTGATE_POLICY_CLUSTER_ID: 'Prod/../x' }],
      [{ TRUSTGATE_POLICY_CLUSTER_ID: 'prod', TRUSTGATE_POLICY_REFRESH: '-1' }],
      [{ TRUSTGATE_POLICY_CLUSTER_ID: 'prod', TRUSTGATE_POLICY_REFRESH: '3601' }],
    ])('refuses it with CONFIG_INVALID (%#)', (env) => {
      expect(thrownError(() => buildPolicyLookupDeps(env, clock)).code).toBe(ErrorCode.CONFIG_INVALID);
    });
  });

  describe('when unset', () => {
    it('configures no policies', () => {
      expect(buildPolicyLookupDeps({}, clock).policies).toBeUndefined();
    });
  });
});
