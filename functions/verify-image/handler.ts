// verify-image, platform-neutral: decode the request, check the caller may bring its own
// trust material, run the use case, encode the answer.
import { createHash, timingSafeEqual } from 'node:crypto';
import { ErrorCode, TrustgateError, type FieldProblem } from '../../shared/errors.js';
import type { Logger } from '../../shared/ports.js';
import { decodeVerifyImageRequest, type VerifyImageRequest } from '../../shared/verify/verify-image-request.js';
import { verifyImage, type VerifyImageDeps } from '../../shared/verify/verify-image.js';
import { isKeyAuthority } from '../../shared/trust/verifier.js';
import { toRegistryCredentials } from '../../shared/registry/workload-pull-secrets.js';
import { errorResponse, ok, type FunctionResponse } from '../platform/function-response.js';

// The request's headers (names in lower case) when the platform passes them: `trustgate
// serve` does, for the explicit-trust bearer token.
export type FunctionHandler = (
  body: unknown,
  request?: { readonly headers: Readonly<Record<string, string>> },
) => Promise<FunctionResponse>;

export interface VerifyImageHandlerDeps extends VerifyImageDeps {
  readonly logger: Logger;
  // Whether any caller may name its own trust server, signers and root key IDs (the
  // explicit form's `trust`). Absent or false: only with `explicitTrustToken`, if that is
  // set; otherwise never. Deployed functions set it from TRUSTGATE_ALLOW_EXPLICIT_TRUST,
  // `trustgate serve` from --allow-explicit-trust.
  readonly allowExplicitTrust?: boolean;
  // A bearer token that lets the caller presenting it bring its own trust material
  // (`trustgate serve` reads it from TRUSTGATE_EXPLICIT_TRUST_TOKEN).
  readonly explicitTrustToken?: string;
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

export function createVerifyImageHandler(deps: VerifyImageHandlerDeps): FunctionHandler {
  // Compared as SHA-256 digests: equal lengths for timingSafeEqual whatever was sent, so
  // neither the token's content nor its length leaks through timing.
  const expected = deps.explicitTrustToken === undefined || deps.explicitTrustToken === '' ? undefined : sha256(deps.explicitTrustToken);
  return async (body, request) => {
    try {
      const decoded = decodeVerifyImageRequest(body);
      const named = requestTrustFields(decoded);
      if (named.length > 0 && deps.allowExplicitTrust !== true) {
        // Decided before anything is fetched: a refused request causes no outbound request.
        if (expected === undefined) throw notAccepted(named);
        const presented = BEARER.exec(request?.headers['authorization'] ?? '')?.[1];
        if (presented === undefined || !timingSafeEqual(sha256(presented), expected)) {
          return {
            statusCode: 403,
            body: { error: { code: ErrorCode.UNAUTHORIZED, message: `${named.join(', ')} need Authorization: Bearer <explicit-trust token>; without it send the policy form {image, namespace}` } },
          };
        }
      }
      // The proxy's pull-secret credentials serve this request only: nothing keeps them.
      const credentials = decoded.kind === 'policy' ? toRegistryCredentials(decoded.credentials) : undefined;
      return ok(await verifyImage(deps, markCallerServer(decoded), undefined, credentials));
    } catch (error) {
      return errorResponse(error, deps.logger);
    }
  };
}

// The fields by which a request brings its own trust material. An explicit request
// without any (`{"image"}`) uses the registry's default trust server and first-use rules,
// which are not the caller's to choose, so it needs no permission.
function requestTrustFields(request: VerifyImageRequest): string[] {
  if (request.kind !== 'explicit') return [];
  const fields: string[] = [];
  if (request.trust.server !== undefined) fields.push('trust.server');
  if (request.trust.signers.length > 0) fields.push('trust.signers');
  if (request.trust.rootKeyIds.length > 0) fields.push('trust.rootKeyIds');
  const cosignAuthorities = (request.cosign ?? []).flatMap((requirement) => requirement.authorities);
  if (cosignAuthorities.some(isKeyAuthority)) fields.push('cosign.keys');
  if (cosignAuthorities.some((authority) => !isKeyAuthority(authority))) fields.push('cosign.identities');
  return fields;
}

// A trust server named in a request is the caller's choice, even an authorised caller's:
// the verifier then never spends the operator's trust-server credentials on it.
function markCallerServer(request: VerifyImageRequest): VerifyImageRequest {
  if (request.kind !== 'explicit' || request.trust.server === undefined) return request;
  return { ...request, trust: { ...request.trust, serverFromCaller: true } };
}

// 400 REQUEST_INVALID naming each field, as deployed functions answer by default.
function notAccepted(fields: readonly string[]): TrustgateError {
  const refused = 'is not accepted by this deployment: trust comes from its policies (send {image, namespace})';
  const problems: FieldProblem[] = fields.map((path) => ({ path, message: refused }));
  return new TrustgateError(
    ErrorCode.REQUEST_INVALID,
    `invalid verify-image request: ${fields.join(', ')} ${fields.length === 1 ? 'is' : 'are'} not accepted here, expected the policy form {image, namespace}`,
    { problems },
  );
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
