// Lambda entry of the sign-callback authorizer: the expected token is read once per container.
import { createCallbackAuthorizer } from './handler.js';

export const handler = createCallbackAuthorizer(process.env['TRUSTGATE_CALLBACK_TOKEN']);
