// Builds a Lambda handler (middy) over a platform-neutral function handler: headers are
// normalised, the body is decoded once and checked against the request schema, the
// handler runs, and the result (or any error) is encoded for API Gateway.
import middy from '@middy/core';
import type { Logger } from '../../shared/ports.js';
import { toHttpApiResult, type HttpApiResult } from './aws-http.js';
import type { FunctionResponse } from './function-response.js';
import {
  encodeErrors,
  normaliseHeaders,
  parseJsonBody,
  validateRequestSchema,
  type DecodedHttpApiEvent,
  type JsonSchema,
} from './lambda-middleware.js';

// What a handler may read of the HTTP request besides its decoded body.
export interface HttpRequestInfo {
  readonly headers: Readonly<Record<string, string>>; // names lower-cased
}

export interface LambdaEntryOptions {
  // The function's request JSON Schema and the name used in its error messages.
  readonly requestSchema?: { readonly schema: JsonSchema; readonly name: string };
}

export function createLambdaEntry(
  handle: (body: unknown, request: HttpRequestInfo) => Promise<FunctionResponse>,
  logger: Logger,
  options: LambdaEntryOptions = {},
) {
  const entry = middy<DecodedHttpApiEvent, HttpApiResult>()
    .use(encodeErrors(logger))
    .use(normaliseHeaders())
    .use(parseJsonBody());
  if (options.requestSchema !== undefined) entry.use(validateRequestSchema(options.requestSchema.schema, options.requestSchema.name));
  return entry.handler(async (event) => toHttpApiResult(await handle(event.jsonBody, { headers: (event.headers ?? {}) as Record<string, string> })));
}
