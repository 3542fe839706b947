// Lambda entry for verify-image: dependencies are built once per container.
import { createLambdaEntry } from '../platform/lambda-entry.js';
import { buildVerifyImageDeps } from '../platform/runtime-deps.js';
import { createVerifyImageHandler } from './handler.js';
import schema from './request-schema.json' with { type: 'json' };

const deps = buildVerifyImageDeps(process.env);

export const handler = createLambdaEntry(createVerifyImageHandler(deps), deps.logger, {
  requestSchema: { schema, name: 'verify-image' },
});
