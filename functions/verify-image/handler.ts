// verify-image, platform-neutral: decode the request, run the use case, encode the answer.
import { ErrorCode, TrustgateError, type FieldProblem } from '../../shared/errors.js';
import type { Logger } from '../../shared/ports.js';
import { decodeVerifyImageRequest, type VerifyImageRequest } from '../../shared/verify/verify-image-request.js';
import { verifyImage, type VerifyImageDeps } from '../../shared/verify/verify-image.js';
import { errorResponse, ok, type FunctionResponse } from '../platform/function-response.js';

export type FunctionHandler = (body: unknown) => Promise<FunctionResponse>;

export interface VerifyImageHandlerDeps extends VerifyImageDeps {
  readonly logger: Logger;
  // Whether a request may name its own trust server, signers and root key IDs (the explicit
  // form's `trust`). The CLI and `trustgate serve` allow it; deployed functions do not
  // unless configured to (see buildVerifyImageDeps). Absent: allowed.
  readonly allowExplicitTrust?: boolean;
}

export function createVerifyImageHandler(deps: VerifyImageHandlerDeps): FunctionHandler {
  return async (body) => {
    try {
      const request = decodeVerifyImageRequest(body);
      if (deps.allowExplicitTrust === false) assertNoRequestTrust(request);
      return ok(await verifyImage(deps, request));
    } catch (error) {
      return errorResponse(error, deps.logger);
    }
  };
}

// Refuses (400 REQUEST_INVALID) a request that brings its own trust material, naming each
// field. An explicit request without any (`{"image"}`) uses the registry's default trust
// server and first-use rules, which are not the caller's to choose, so it stays allowed.
function assertNoRequestTrust(request: VerifyImageRequest): void {
  if (request.kind !== 'explicit') return;
  const problems: FieldProblem[] = [];
  const refused = 'is not accepted by this deployment: trust comes from its policies (send {image, namespace})';
  if (request.trust.server !== undefined) problems.push({ path: 'trust.server', message: refused });
  if (request.trust.signers.length > 0) problems.push({ path: 'trust.signers', message: refused });
  if (request.trust.rootKeyIds.length > 0) problems.push({ path: 'trust.rootKeyIds', message: refused });
  if (problems.length === 0) return;
  throw new TrustgateError(
    ErrorCode.REQUEST_INVALID,
    `invalid verify-image request: ${problems.map((p) => p.path).join(', ')} ${problems.length === 1 ? 'is' : 'are'} not accepted here, expected the policy form {image, namespace}`,
    { problems },
  );
}
