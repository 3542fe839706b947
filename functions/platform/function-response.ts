// One map from an outcome to the functions' HTTP contract, shared by every platform:
// denials are answers (200), malformed input is 400 with every bad field, anything else
// is a bug (500) and says nothing more than that to the caller.
import { ErrorCode, toTrustgateError } from '../../shared/errors.js';
import type { Logger } from '../../shared/ports.js';

export interface FunctionResponse {
  readonly statusCode: number;
  readonly body: unknown;
}

export function ok(body: unknown): FunctionResponse {
  return { statusCode: 200, body };
}

export function errorResponse(thrown: unknown, logger: Logger): FunctionResponse {
  const error = toTrustgateError(thrown);
  if (error.code === ErrorCode.REQUEST_INVALID) {
    return { statusCode: 400, body: { error: { code: error.code, message: error.message, problems: error.problems } } };
  }
  logger.error('function failed', { code: error.code, error: error.message });
  return { statusCode: 500, body: { error: { code: ErrorCode.INTERNAL, message: 'internal error' } } };
}
