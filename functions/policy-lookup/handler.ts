// policy-lookup, platform-neutral: decode the request, look the policy up, encode the answer.
import { answerPolicyLookup, type PolicyLookupDeps } from '../../shared/policy/policy-lookup.js';
import { decodePolicyLookupRequest } from '../../shared/policy/policy-lookup-request.js';
import type { Logger } from '../../shared/ports.js';
import { errorResponse, ok, type FunctionResponse } from '../platform/function-response.js';

export type FunctionHandler = (body: unknown) => Promise<FunctionResponse>;

export function createPolicyLookupHandler(deps: PolicyLookupDeps & { readonly logger: Logger }): FunctionHandler {
  return async (body) => {
    try {
      return ok(await answerPolicyLookup(deps, decodePolicyLookupRequest(body)));
    } catch (error) {
      return errorResponse(error, deps.logger);
    }
  };
}
