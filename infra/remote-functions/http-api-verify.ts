// verify-image on AWS: POST {base}/functions/verify-image on the API Gateway HTTP API that
// serverless.yml deploys (IAM authorisation, so every request is SigV4-signed), or on any
// HTTPS endpoint speaking the same contract behind a bearer-token authorizer.
import type { VerifyImageFn } from '../../shared/admission/decide-admission.js';
import { ErrorCode, TrustgateError } from '../../shared/errors.js';
import type { Fetch } from '../../shared/ports.js';
import { signRequest, type AwsCredentials, type SigningScope } from './aws-sigv4.js';
import { createRemoteVerify, describeUrl, MAX_ANSWER_BYTES, parseFunctionsBase } from './remote-verify.js';

export type HttpApiAuth =
  | { readonly kind: 'sigv4'; readonly credentials: AwsCredentials; readonly scope: SigningScope }
  | { readonly kind: 'bearer'; readonly token: string };

export interface HttpApiVerifyOptions {
  readonly base: URL;
  readonly auth: HttpApiAuth;
  readonly fetch: Fetch;
  readonly timeoutMs: number;
  // Read for each signature (SigV4 dates the request).
  readonly now: () => Date;
}

type Env = Readonly<Record<string, string | undefined>>;

export function createHttpApiVerify(options: HttpApiVerifyOptions): VerifyImageFn {
  const url = new URL(`${options.base.href.replace(/\/+$/, '')}/functions/verify-image`);
  return createRemoteVerify(options.fetch, {
    label: describeUrl(url),
    prepare: (body) => {
      const base = { 'content-type': 'application/json', accept: 'application/json' };
      const headers =
        options.auth.kind === 'bearer'
          ? { ...base, authorization: `Bearer ${options.auth.token}` }
          : signRequest({ method: 'POST', url, headers: base, body }, options.auth.credentials, options.auth.scope, options.now());
      return { url: url.href, method: 'POST', headers, body, maxBytes: MAX_ANSWER_BYTES, timeoutMs: options.timeoutMs };
    },
    unwrap: (answer) => answer,
  });
}

// The base URL of the functions, checked (https, or http on loopback).
export function parseHttpApiBase(text: string): URL {
  return parseFunctionsBase(text, '--functions URL');
}

// TRUSTGATE_FUNCTIONS_TOKEN, when set, is sent as a bearer token; otherwise requests are
// SigV4-signed with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN. The
// service and region come from an execute-api or Lambda function URL host, else the service
// is execute-api (a custom domain) and the region AWS_REGION or AWS_DEFAULT_REGION.
export function decodeHttpApiAuth(env: Env, base: URL): HttpApiAuth {
  const token = nonEmpty(env['TRUSTGATE_FUNCTIONS_TOKEN']);
  if (token !== undefined) return { kind: 'bearer', token };
  const accessKeyId = nonEmpty(env['AWS_ACCESS_KEY_ID']);
  const secretAccessKey = nonEmpty(env['AWS_SECRET_ACCESS_KEY']);
  const sessionToken = nonEmpty(env['AWS_SESSION_TOKEN']);
  if (accessKeyId === undefined || secretAccessKey === undefined) {
    throw new TrustgateError(
      ErrorCode.CONFIG_INVALID,
      'remote functions need credentials: expected AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (SigV4) or TRUSTGATE_FUNCTIONS_TOKEN, got neither',
    );
  }
  const scope = scopeFromHost(base.hostname) ?? scopeFromEnv(env);
  return { kind: 'sigv4', credentials: { accessKeyId, secretAccessKey, ...(sessionToken === undefined ? {} : { sessionToken }) }, scope };
}

function scopeFromHost(host: string): SigningScope | undefined {
  const api = /^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(host);
  if (api?.[1] !== undefined) return { service: 'execute-api', region: api[1] };
  const lambda = /^[a-z0-9]+\.lambda-url\.([a-z0-9-]+)\.on\.aws$/.exec(host);
  if (lambda?.[1] !== undefined) return { service: 'lambda', region: lambda[1] };
  return undefined;
}

function scopeFromEnv(env: Env): SigningScope {
  const region = nonEmpty(env['AWS_REGION']) ?? nonEmpty(env['AWS_DEFAULT_REGION']);
  if (region === undefined || !/^[a-z0-9-]+$/.test(region)) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `SigV4 needs the API's region: expected AWS_REGION, got ${JSON.stringify(region ?? '')}`);
  }
  return { service: 'execute-api', region };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
