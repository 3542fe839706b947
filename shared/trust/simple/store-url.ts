// The lookaside store URL a policy names, checked when the policy document is read and again
// when the policy is turned into a requirement (before any request).
import { ErrorCode, TrustgateError } from '../../errors.js';
import { storeUrlProblem } from '../../policy/simple-store-url.js';

// Refuses a store URL with a problem (see storeUrlProblem) as POLICY_INVALID naming `field`.
export function checkStoreUrl(store: string, withCredentials: boolean, field: string): void {
  const problem = storeUrlProblem(store, withCredentials);
  if (problem !== undefined) throw new TrustgateError(ErrorCode.POLICY_INVALID, `${field} ${problem}`);
}
