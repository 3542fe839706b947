// OpenWhisk entry for policy-lookup: dependencies are built on the first activation of a
// container and reused by the warm ones.
import { createOpenWhiskMain } from '../platform/openwhisk-entry.js';
import { buildPolicyLookupDeps } from '../platform/policy-lookup-deps.js';
import { createPolicyLookupHandler } from './handler.js';

let deps: ReturnType<typeof buildPolicyLookupDeps> | undefined;
const current = (): ReturnType<typeof buildPolicyLookupDeps> => (deps ??= buildPolicyLookupDeps(process.env));

export const main = createOpenWhiskMain(
  () => createPolicyLookupHandler(current()),
  () => current().logger,
);
