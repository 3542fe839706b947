// The middy middlewares every HTTP Lambda entry runs, in this order: header names to
// lower case, the JSON body decoded once, a JSON Schema gate, and one error encoder that
// turns anything thrown on the way into the functions' HTTP contract (400 with every bad
// field, 500 with no detail). The handler's own decoder stays the single full check; the
// schema only rejects what it would reject anyway, earlier and without running it.
import type { MiddlewareObj } from '@middy/core';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { ErrorCode, TrustgateError, type FieldProblem } from '../../shared/errors.js';
import { joinField, toFieldPath } from '../../shared/field-path.js';
import type { Logger } from '../../shared/ports.js';
import { decodeHttpApiBody, toHttpApiResult, type HttpApiEvent, type HttpApiResult } from './aws-http.js';
import { errorResponse } from './function-response.js';

// The event as the handler sees it after the middlewares: `jsonBody` is the decoded body.
export interface DecodedHttpApiEvent extends HttpApiEvent {
  readonly jsonBody?: unknown;
}

export type JsonSchema = Readonly<Record<string, unknown>>;
type Middleware = MiddlewareObj<DecodedHttpApiEvent, HttpApiResult>;

// HTTP header names are case-insensitive; API Gateway passes them as the client sent them
// (payload v2 lower-cases most, not all). Lower-casing once means no later lookup can be
// dodged by sending `AUTHORIZATION` instead of `authorization`. Repeated names are joined
// with a comma, as HTTP folds them.
export function normaliseHeaders(): Middleware {
  return {
    name: 'normaliseHeaders',
    before: (request) => {
      // Null prototype: a header named `__proto__` or `constructor` is data like any other.
      const headers = Object.create(null) as Record<string, string>;
      for (const [name, value] of Object.entries(request.event.headers ?? {})) {
        if (value === undefined) continue;
        const key = name.toLowerCase();
        headers[key] = headers[key] === undefined ? value : `${headers[key]},${value}`;
      }
      request.event = { ...request.event, headers };
    },
  };
}

// Decodes the body once (size cap, base64, prototype-safe JSON parse) into `jsonBody`.
export function parseJsonBody(): Middleware {
  return {
    name: 'parseJsonBody',
    before: (request) => {
      request.event = { ...request.event, jsonBody: decodeHttpApiBody(request.event) };
    },
  };
}

// Validates `jsonBody` against the function's request schema, reporting every bad field
// at once with the same field paths and code (REQUEST_INVALID) as the handler's decoder.
// ajv is imported and the schema compiled on the first request, not at the container's start.
export function validateRequestSchema(schema: JsonSchema, what: string): Middleware {
  let compiled: Promise<ValidateFunction> | undefined;
  return {
    name: 'validateRequestSchema',
    before: async (request) => {
      compiled ??= import('./request-schema-compiler.js').then(({ compileRequestSchema }) => compileRequestSchema(schema)).catch((error: unknown) => {
        compiled = undefined;
        throw error;
      });
      const validate = await compiled;
      if (validate(request.event.jsonBody)) return;
      const problems = toFieldProblems(validate.errors ?? []);
      const summary = problems.map((p) => (p.path === '' ? p.message : `${p.path}: ${p.message}`)).join('; ');
      throw new TrustgateError(ErrorCode.REQUEST_INVALID, `invalid ${what} request: ${summary}`, { problems });
    },
  };
}

// Anything thrown by a middleware or the handler becomes the HTTP answer the function
// contract gives for its code; nothing escapes to the Lambda runtime as an invocation error.
export function encodeErrors(logger: Logger): Middleware {
  return {
    name: 'encodeErrors',
    onError: (request) => {
      request.response = toHttpApiResult(errorResponse(request.error, logger));
    },
  };
}

// One problem per ajv error, at the field it concerns (`trust.signers[0].name`).
export function toFieldProblems(errors: readonly ErrorObject[]): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const error of errors) {
    const field = toFieldPath(error.instancePath);
    const params = error.params as Record<string, unknown>;
    let problem: FieldProblem;
    if (error.keyword === 'required') problem = { path: joinField(field, String(params['missingProperty'])), message: 'is required' };
    else if (error.keyword === 'additionalProperties') problem = { path: joinField(field, String(params['additionalProperty'])), message: 'is not a known field' };
    else problem = { path: field, message: error.message ?? `fails ${error.keyword}` };
    if (!problems.some((seen) => seen.path === problem.path && seen.message === problem.message)) problems.push(problem);
  }
  return problems;
}
