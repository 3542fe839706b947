// One map from an outcome to the functions' HTTP contract, shared by every platform:
// denials are answers (200), malformed input is 400 with every bad field, a service the
// function depends on that is unavailable is 503 (answering something unusable, 502), with
// the error's code; any other error of ours is 500 with its code, and anything else is a bug
// (500 INTERNAL). Only REQUEST_INVALID carries its message: the others' messages name
// servers, URLs and what they answered, which stay in the function's log.
import { ErrorCode, toTrustgateError } from '../../shared/errors.js';
import type { Logger } from '../../shared/ports.js';

export interface FunctionResponse {
  readonly statusCode: number;
  readonly body: unknown;
}

export function ok(body: unknown): FunctionResponse {
  return { statusCode: 200, body };
}

// A dependency did not answer, answered an error status, or could not be used now: a caller
// (a registry redelivering, a scheduler) may try again later.
const UNAVAILABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.TRUST_SERVER_UNAVAILABLE,
  ErrorCode.REGISTRY_UNAVAILABLE,
  ErrorCode.SIMPLE_STORE_UNAVAILABLE,
  ErrorCode.STATE_STORE_FAILED,
  ErrorCode.POLICY_SOURCE_UNAVAILABLE,
  ErrorCode.PULL_SECRETS_UNAVAILABLE,
  ErrorCode.SERVICE_STOPPING,
  ErrorCode.RECHECK_BUDGET_SPENT,
]);

// A dependency answered something that is not what it should send.
const BAD_UPSTREAM: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.TRUST_METADATA_INVALID,
  ErrorCode.TRUST_METADATA_TOO_LARGE,
  ErrorCode.REGISTRY_RESPONSE_INVALID,
  ErrorCode.REGISTRY_RESPONSE_TOO_LARGE,
]);

// The answer to an error: its code and a fixed message per kind. Security: the message of
// an error other than REQUEST_INVALID is never sent (no URL, server text, stack or cause);
// the log line has it.
export function errorResponse(thrown: unknown, logger: Logger): FunctionResponse {
  const error = toTrustgateError(thrown);
  if (error.code === ErrorCode.REQUEST_INVALID) {
    return { statusCode: 400, body: { error: { code: error.code, message: error.message, problems: error.problems } } };
  }
  logger.error('function failed', { code: error.code, error: error.message });
  if (UNAVAILABLE.has(error.code)) {
    return { statusCode: 503, body: { error: { code: error.code, message: 'a service this function depends on is unavailable; try again later' } } };
  }
  if (BAD_UPSTREAM.has(error.code)) {
    return { statusCode: 502, body: { error: { code: error.code, message: 'a service this function depends on answered something unusable' } } };
  }
  if (error.code !== ErrorCode.INTERNAL) {
    return { statusCode: 500, body: { error: { code: error.code, message: 'the function could not answer; see its log' } } };
  }
  return { statusCode: 500, body: { error: { code: ErrorCode.INTERNAL, message: 'internal error' } } };
}
