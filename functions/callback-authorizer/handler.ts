// The API Gateway REQUEST authorizer in front of sign-callback. A container registry cannot
// sign AWS SigV4 requests, so the callback route is guarded by a shared bearer token
// instead: this rejects a request before sign-callback runs (and is billed), and
// sign-callback checks the token again itself, so neither layer alone is the only guard.
import { createHash, timingSafeEqual } from 'node:crypto';

// The parts of an HTTP API (payload v2) authorizer event this reads.
export interface AuthorizerEvent {
  readonly headers?: Readonly<Record<string, string | undefined>> | null;
}

// A "simple response" (enableSimpleResponses): API Gateway answers 403 when false.
export interface AuthorizerResult {
  readonly isAuthorized: boolean;
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

// Decides one request. An unset or empty expected token denies everything (fail closed):
// a missing secret must never turn into "no authentication".
export function createCallbackAuthorizer(expectedToken: string | undefined): (event: AuthorizerEvent) => Promise<AuthorizerResult> {
  const expected = expectedToken === undefined || expectedToken === '' ? undefined : digest(expectedToken);
  const isAuthorized = (event: AuthorizerEvent): boolean => {
    if (expected === undefined) return false;
    const presented = bearerToken(event.headers ?? {});
    return presented !== undefined && timingSafeEqual(digest(presented), expected);
  };
  return (event) => Promise.resolve({ isAuthorized: isAuthorized(event) });
}

// The bearer token of the Authorization header, whatever the header name's case.
export function bearerToken(headers: Readonly<Record<string, string | undefined>>): string | undefined {
  const entry = Object.entries(headers).find(([name]) => name.toLowerCase() === 'authorization');
  const match = entry?.[1] === undefined ? null : BEARER.exec(entry[1]);
  return match?.[1];
}

// Comparing fixed-length digests keeps the comparison constant-time: timingSafeEqual needs
// equal lengths, and comparing the raw tokens would leak the expected token's length.
function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
