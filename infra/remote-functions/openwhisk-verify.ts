// verify-image on Apache OpenWhisk, the action `trustgate/verify-image` that manifest.yaml
// deploys. Two ways in, one answer shape:
// - invoke (default): the REST API's blocking invocation, POST
//   {apihost}/api/v1/namespaces/{ns}/actions/trustgate/verify-image?blocking=true&result=true
//   with Basic auth from the namespace key (what the `openwhisk` client's actions.invoke
//   sends); the answer is the action's result.
// - web: the web action, POST {apihost}/api/v1/web/{ns}/trustgate/verify-image.json with the
//   X-Require-Whisk-Auth secret, for an action whose require-whisk-auth annotation is that
//   secret; the `.json` extension answers the action's result as it is.
// The result is the action's {statusCode, headers, body}; body is the verify-image answer.
// The REST API is spoken through the Fetch port rather than the `openwhisk` client so the
// answer's size is capped while it streams and one deadline covers the whole exchange.
import type { VerifyImageFn } from '../../shared/admission/decide-admission.js';
import { ErrorCode, TrustgateError } from '../../shared/errors.js';
import { isPlainObject } from '../../shared/json.js';
import type { Fetch } from '../../shared/ports.js';
import { createRemoteVerify, describeUrl, MAX_ANSWER_BYTES, parseFunctionsBase } from './remote-verify.js';

export const OPENWHISK_ACTION = 'trustgate/verify-image';

export type OpenWhiskTarget =
  | { readonly kind: 'invoke'; readonly apihost: string; readonly auth: string; readonly namespace?: string }
  | { readonly kind: 'web'; readonly apihost: string; readonly namespace: string; readonly secret: string };

export interface OpenWhiskVerifyOptions {
  readonly target: OpenWhiskTarget;
  readonly fetch: Fetch;
  readonly timeoutMs: number;
}

export function createOpenWhiskVerify(options: OpenWhiskVerifyOptions): VerifyImageFn {
  const { target } = options;
  const host = parseApiHost(target.apihost);
  const namespace = encodeURIComponent(target.namespace ?? '_');
  const url =
    target.kind === 'invoke'
      ? new URL(`${host.href.replace(/\/+$/, '')}/api/v1/namespaces/${namespace}/actions/${OPENWHISK_ACTION}?blocking=true&result=true`)
      : new URL(`${host.href.replace(/\/+$/, '')}/api/v1/web/${namespace}/${OPENWHISK_ACTION}.json`);
  const authHeader: Record<string, string> =
    target.kind === 'invoke' ? { authorization: `Basic ${Buffer.from(target.auth, 'utf8').toString('base64')}` } : { 'x-require-whisk-auth': target.secret };
  return createRemoteVerify(options.fetch, {
    label: describeUrl(url),
    prepare: (body) => ({
      url: url.href,
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...authHeader },
      body,
      maxBytes: MAX_ANSWER_BYTES,
      timeoutMs: options.timeoutMs,
    }),
    unwrap: unwrapActionResult,
  });
}

// The web namespace must be named: OpenWhisk resolves `_` only for authenticated REST calls.
export function assertWebNamespace(namespace: string | undefined): string {
  if (namespace === undefined || namespace === '' || namespace === '_') {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, 'calling the web action needs the namespace name: expected OW_NAMESPACE (or NAMESPACE in .wskprops), got none');
  }
  return namespace;
}

// wsk accepts an API host without a scheme and means https.
function parseApiHost(apihost: string): URL {
  return parseFunctionsBase(/^[a-z][a-z0-9+.-]*:\/\//i.test(apihost) ? apihost : `https://${apihost}`, 'the OpenWhisk API host');
}

// The action's result, {statusCode, headers, body}: only statusCode 200 with an object body
// carries a verdict. A 400 or 500 from the action is reported with its error code, if any.
function unwrapActionResult(result: unknown): unknown {
  if (!isPlainObject(result) || typeof result['statusCode'] !== 'number') {
    throw new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, 'the action result is not {statusCode, headers, body}');
  }
  const { statusCode, body } = result;
  if (statusCode !== 200) {
    const code = isPlainObject(body) && isPlainObject(body['error']) ? body['error']['code'] : undefined;
    // Only one of our own codes is repeated: anything else is the platform's text.
    const shown = typeof code === 'string' && (Object.values(ErrorCode) as string[]).includes(code) ? ` (${code})` : '';
    throw new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, `the action answered statusCode ${String(statusCode)}${shown}, expected 200`);
  }
  return body;
}
