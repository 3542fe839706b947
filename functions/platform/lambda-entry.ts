// Builds a Lambda handler (middy) over a platform-neutral function handler: the event's
// body is decoded once, the handler runs, the result is encoded for API Gateway.
import middy from '@middy/core';
import type { Logger } from '../../shared/ports.js';
import { decodeHttpApiBody, toHttpApiResult, type HttpApiEvent, type HttpApiResult } from './aws-http.js';
import { errorResponse, type FunctionResponse } from './function-response.js';

export function createLambdaEntry(handle: (body: unknown) => Promise<FunctionResponse>, logger: Logger) {
  return middy<HttpApiEvent, HttpApiResult>().handler(async (event) => {
    let body: unknown;
    try {
      body = decodeHttpApiBody(event);
    } catch (error) {
      return toHttpApiResult(errorResponse(error, logger));
    }
    return toHttpApiResult(await handle(body));
  });
}
