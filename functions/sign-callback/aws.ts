// Lambda entry for sign-callback. Two kinds of events arrive: HTTP API requests from the
// registry (bearer token checked by the handler), and the scheduled {"poll": true} input of
// an EventBridge rule, which only AWS can send (it carries no requestContext).
import middy from '@middy/core';
import type { HttpApiResult } from '../platform/aws-http.js';
import { toHttpApiResult } from '../platform/aws-http.js';
import { encodeErrors, normaliseHeaders, parseJsonBody, type DecodedHttpApiEvent } from '../platform/lambda-middleware.js';
import { buildSignCallbackDeps } from '../platform/runtime-deps.js';
import { createSignCallbackHandler } from './handler.js';

const deps = buildSignCallbackDeps(process.env);
const handle = createSignCallbackHandler(deps, process.env['TRUSTGATE_CALLBACK_TOKEN']);

const httpEntry = middy<DecodedHttpApiEvent, HttpApiResult>()
  .use(encodeErrors(deps.logger))
  .use(normaliseHeaders())
  .use(parseJsonBody())
  .handler(async (event) => toHttpApiResult(await handle({ body: event.jsonBody, headers: (event.headers ?? {}) as Record<string, string> })));

function isScheduledPoll(event: unknown): boolean {
  return typeof event === 'object' && event !== null && !('requestContext' in event) && (event as { poll?: unknown }).poll === true;
}

export const handler = async (event: unknown, context: unknown): Promise<HttpApiResult> =>
  isScheduledPoll(event)
    ? toHttpApiResult(await handle({ body: { poll: true }, headers: {}, trusted: true }))
    : httpEntry(event as DecodedHttpApiEvent, context);
