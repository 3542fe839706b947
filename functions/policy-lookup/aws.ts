// Lambda entry for policy-lookup: dependencies (and the policies) are loaded once per container.
import { createLambdaEntry } from '../platform/lambda-entry.js';
import { buildPolicyLookupDeps } from '../platform/runtime-deps.js';
import { createPolicyLookupHandler } from './handler.js';

const deps = buildPolicyLookupDeps(process.env);

export const handler = createLambdaEntry(createPolicyLookupHandler(deps), deps.logger);
