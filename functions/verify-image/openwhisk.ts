// OpenWhisk entry for verify-image: dependencies are built on the first activation of a
// container and reused by the warm ones (an action's params are its configuration).
import { buildVerifyImageDeps } from '../platform/runtime-deps.js';
import { createOpenWhiskMain } from '../platform/openwhisk-entry.js';
import { createVerifyImageHandler } from './handler.js';

let deps: ReturnType<typeof buildVerifyImageDeps> | undefined;
const current = (): ReturnType<typeof buildVerifyImageDeps> => (deps ??= buildVerifyImageDeps(process.env));

export const main = createOpenWhiskMain(
  () => createVerifyImageHandler(current()),
  () => current().logger,
);
