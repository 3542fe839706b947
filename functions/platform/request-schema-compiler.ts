// Compiles a function's request schema with ajv; imported by the schema middleware on the
// first request, so a cold start neither loads ajv nor compiles anything.
import { Ajv, type ValidateFunction } from 'ajv';

// The schema is the function's own (shipped with it, never from a request), and a unit test
// checks it against the JSON Schema meta-schema: the meta-schema is not compiled again in
// every container (validateSchema: false), which is most of ajv's start-up cost.
export function compileRequestSchema(schema: Readonly<Record<string, unknown>>): ValidateFunction {
  return new Ajv({ allErrors: true, strict: true, validateSchema: false }).compile(schema);
}
