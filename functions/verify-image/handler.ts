// verify-image, platform-neutral: decode the request, run the use case, encode the answer.
import type { Logger } from '../../shared/ports.js';
import { decodeVerifyImageRequest } from '../../shared/verify/verify-image-request.js';
import { verifyImage, type VerifyImageDeps } from '../../shared/verify/verify-image.js';
import { errorResponse, ok, type FunctionResponse } from '../platform/function-response.js';

export type FunctionHandler = (body: unknown) => Promise<FunctionResponse>;

export function createVerifyImageHandler(deps: VerifyImageDeps & { readonly logger: Logger }): FunctionHandler {
  return async (body) => {
    try {
      return ok(await verifyImage(deps, decodeVerifyImageRequest(body)));
    } catch (error) {
      return errorResponse(error, deps.logger);
    }
  };
}
