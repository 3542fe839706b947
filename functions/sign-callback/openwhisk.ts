// OpenWhisk entry for sign-callback. A web action call (the registry) always carries
// __ow_method and __ow_headers and must present the bearer token; an invocation without
// __ow_method was made with the namespace's own credentials (an alarm trigger sending
// {"poll": true}) and is trusted.
// Security: the token is checked on the headers alone, before the raw body (__ow_body) is
// decoded from base64 or parsed, as Lambda's authorizer and `trustgate serve` check it before
// the body is read: an unauthenticated caller gets its 401 without making the action spend
// decoding and parsing on what it sent.
import { errorResponse, type FunctionResponse } from '../platform/function-response.js';
import { decodeOpenWhiskParams, type OpenWhiskResult } from '../platform/openwhisk-entry.js';
import { buildSignCallbackDeps } from '../platform/runtime-deps.js';
import { createSignCallbackHandler, type CallbackAuthentication, type CallbackHandler } from './handler.js';

type SignCallback = { deps: ReturnType<typeof buildSignCallbackDeps>; handle: CallbackHandler & { readonly authenticate: CallbackAuthentication } };

let built: SignCallback | undefined;

function current(): SignCallback {
  if (built === undefined) {
    const deps = buildSignCallbackDeps(process.env);
    built = { deps, handle: createSignCallbackHandler(deps, process.env['TRUSTGATE_CALLBACK_TOKEN']) };
  }
  return built;
}

export async function main(params: unknown): Promise<OpenWhiskResult> {
  let response: FunctionResponse;
  try {
    const record = (params ?? {}) as Record<string, unknown>;
    const trusted = record['__ow_method'] === undefined;
    const headers: Record<string, string> = {};
    const rawHeaders = record['__ow_headers'];
    if (typeof rawHeaders === 'object' && rawHeaders !== null) {
      for (const [name, value] of Object.entries(rawHeaders)) if (typeof value === 'string') headers[name.toLowerCase()] = value;
    }
    const { handle } = current();
    const refused = trusted ? undefined : handle.authenticate(headers);
    response = refused ?? (await handle({ body: decodeOpenWhiskParams(params), headers, trusted }));
  } catch (error) {
    response = errorResponse(error, current().deps.logger);
  }
  return { statusCode: response.statusCode, headers: { 'content-type': 'application/json' }, body: response.body };
}
