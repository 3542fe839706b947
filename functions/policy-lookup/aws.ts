// Lambda entry for policy-lookup: dependencies (and the policies) are loaded once per container.
import { createLambdaEntry } from '../platform/lambda-entry.js';
import { buildPolicyLookupDeps } from '../platform/policy-lookup-deps.js';
import { createPolicyLookupHandler } from './handler.js';
import schema from './request-schema.json' with { type: 'json' };

const deps = buildPolicyLookupDeps(process.env);

export const handler = createLambdaEntry(createPolicyLookupHandler(deps), deps.logger, {
  requestSchema: { schema, name: 'policy-lookup' },
});
