// Builds an OpenWhisk action `main(params)` over a platform-neutral function handler.
// A web action receives the request as params (JSON body fields merged in, or the raw
// body in __ow_body when the action is raw); a direct invocation passes the request as
// params. Either way the answer is {statusCode, headers, body}, which web actions send as
// the HTTP response and direct invokers read as the result.
import { ErrorCode, TrustgateError } from '../../shared/errors.js';
import { adoptUntrustedValue, parseJsonSafely } from '../../shared/json.js';
import { createJsonLogger } from '../../shared/logging/json-logger.js';
import type { Logger } from '../../shared/ports.js';
import { systemClock } from '../../infra/clock/system-clock.js';
import { errorResponse, type FunctionResponse } from './function-response.js';
import { decodeRequestBodyText } from './request-body.js';

export interface OpenWhiskResult {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
}

// The request an action's params carry: the raw web body (__ow_body) decoded and parsed, or
// the fields the platform merged in. An entry that authenticates its caller from the headers
// alone (sign-callback's bearer token) checks them before calling this, so an unauthenticated
// caller's body is never decoded or parsed.
export function decodeOpenWhiskParams(params: unknown): unknown {
  if (params === null || typeof params !== 'object' || Array.isArray(params)) {
    throw new TrustgateError(ErrorCode.REQUEST_INVALID, 'action parameters must be an object');
  }
  const record = params as Record<string, unknown>;
  const rawBody = record['__ow_body'];
  if (typeof rawBody === 'string') {
    // Raw web actions pass JSON bodies base64-encoded; accept plain JSON text as well. Either
    // way the body is bounded as on Lambda before it is decoded or parsed.
    const text = decodeRequestBodyText(rawBody, !/^\s*[[{]/.test(rawBody));
    return parseJsonSafely(text, ErrorCode.REQUEST_INVALID, 'request body');
  }
  const fields = Object.fromEntries(Object.entries(record).filter(([key]) => !key.startsWith('__ow_')));
  if (Object.keys(fields).length === 0) {
    throw new TrustgateError(ErrorCode.REQUEST_INVALID, 'no request parameters: expected the function\'s JSON request');
  }
  // The platform parsed these; give them the same null prototypes and depth bound as a body we parse.
  return adoptUntrustedValue(fields, ErrorCode.REQUEST_INVALID, 'action parameters');
}

export function createOpenWhiskMain(getHandle: () => (body: unknown) => Promise<FunctionResponse>, getLogger: () => Logger) {
  return async function main(params: unknown): Promise<OpenWhiskResult> {
    let response: FunctionResponse;
    try {
      response = await getHandle()(decodeOpenWhiskParams(params));
    } catch (error) {
      response = errorResponse(error, loggerOrFallback(getLogger));
    }
    return { statusCode: response.statusCode, headers: { 'content-type': 'application/json' }, body: response.body };
  };
}

// The function's logger, or a plain stdout one when building the dependencies is what failed
// (an unusable configuration): the activation still answers 500 and logs why, never throws.
function loggerOrFallback(getLogger: () => Logger): Logger {
  try {
    return getLogger();
  } catch {
    return createJsonLogger((line) => process.stdout.write(`${line}\n`), systemClock);
  }
}
