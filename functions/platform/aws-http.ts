// API Gateway HTTP API (payload v2) in and out, for every Lambda entry. The body is
// decoded here once; a body that is not JSON is the caller's error (400), never a throw.
import type { MiddlewareObj } from '@middy/core';
import { ErrorCode, TrustgateError } from '../../shared/errors.js';
import { parseJsonSafely } from '../../shared/json.js';
import type { FunctionResponse } from './function-response.js';
import { decodeRequestBodyText } from './request-body.js';

export interface HttpApiEvent {
  readonly body?: string | null;
  readonly isBase64Encoded?: boolean;
  readonly headers?: Readonly<Record<string, string | undefined>>;
  readonly requestContext?: unknown;
}

export interface HttpApiResult {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export function decodeHttpApiBody(event: HttpApiEvent): unknown {
  const text = decodeRequestBodyText(event.body ?? '', event.isBase64Encoded === true);
  if (text.trim() === '') throw new TrustgateError(ErrorCode.REQUEST_INVALID, 'request body is empty: expected a JSON object');
  return parseJsonSafely(text, ErrorCode.REQUEST_INVALID, 'request body');
}

export function toHttpApiResult(response: FunctionResponse): HttpApiResult {
  return {
    statusCode: response.statusCode,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(response.body),
  };
}
export type { MiddlewareObj };
