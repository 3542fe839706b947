// sign-callback, platform-neutral: authenticate the caller, decode the request, run the use
// case, encode the answer. Unlike the other functions it needs the request headers: the
// registry proves itself with `Authorization: Bearer <TRUSTGATE_CALLBACK_TOKEN>`.
import { createHash, timingSafeEqual } from 'node:crypto';
import { ErrorCode } from '../../shared/errors.js';
import { decodeCallbackRequest } from '../../shared/callback/callback-request.js';
import { handleSignCallback, type SignCallbackDeps } from '../../shared/callback/sign-callback.js';
import { errorResponse, ok, type FunctionResponse } from '../platform/function-response.js';

export interface CallbackInvocation {
  readonly body: unknown;
  // Header names in lower case.
  readonly headers: Readonly<Record<string, string>>;
  // True for invocations the platform itself authenticated (a scheduler, a direct
  // invocation with platform credentials): no bearer token is needed.
  readonly trusted?: boolean;
}

export type CallbackHandler = (invocation: CallbackInvocation) => Promise<FunctionResponse>;

// The bearer-token check of an HTTP call, on its headers alone: undefined when the caller
// presents the callback token, else the 401 answer. A server that holds the body unread can
// run it first, so an unauthenticated caller costs no body buffer and no JSON parse.
export type CallbackAuthentication = (headers: Readonly<Record<string, string>>) => FunctionResponse | undefined;

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

// The check against `expectedToken`; `onRefused` runs on each refusal (a metric).
// Compared as SHA-256 digests: equal lengths for timingSafeEqual whatever was sent, so
// neither the token's content nor its length leaks through timing. No configured token
// means every HTTP call is refused (fail closed), never "no authentication".
export function createCallbackAuthentication(expectedToken: string | undefined, onRefused: () => void): CallbackAuthentication {
  const expected = expectedToken === undefined || expectedToken === '' ? undefined : sha256(expectedToken);
  return (headers) => {
    const presented = BEARER.exec(headers['authorization'] ?? '')?.[1];
    if (expected !== undefined && presented !== undefined && timingSafeEqual(sha256(presented), expected)) return undefined;
    onRefused();
    return { statusCode: 401, body: { error: { code: ErrorCode.UNAUTHORIZED, message: 'expected Authorization: Bearer <callback token>' } } };
  };
}

// The handler, and the check it applies to HTTP calls (for a server to apply before reading
// the body: the handler applies it again, so it never depends on the server doing so).
export function createSignCallbackHandler(deps: SignCallbackDeps, expectedToken: string | undefined): CallbackHandler & { readonly authenticate: CallbackAuthentication } {
  const authenticate = createCallbackAuthentication(expectedToken, () => deps.metrics.increment('trustgate_callback_events_total', { outcome: 'unauthorized' }));
  const handle: CallbackHandler = async ({ body, headers, trusted }) => {
    if (trusted !== true) {
      const refused = authenticate(headers);
      if (refused !== undefined) return refused;
    }
    try {
      return ok(await handleSignCallback(deps, decodeCallbackRequest(body)));
    } catch (error) {
      return errorResponse(error, deps.logger);
    }
  };
  return Object.assign(handle, { authenticate });
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
