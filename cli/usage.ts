// The usage line of every command, kept apart from the commands themselves: `trustgate --help`
// prints them all without loading any command's code.
export const TRUST_STATE_USAGE = '[--state-dir DIR] [--freshness DUR] [--max-stale DUR] [--dynamodb-table NAME [--dynamodb-endpoint URL]]';

export const VERIFY_USAGE = `usage: trustgate verify IMAGE [--trust-server URL] [--signer NAME=PEMFILE]... [--root-key-id ID]... [--cosign-key PEMFILE]... ${TRUST_STATE_USAGE} [--json]`;
export const VERIFY_POLICY_USAGE = `usage: trustgate verify IMAGE --policies PATH [--namespace NS] ${TRUST_STATE_USAGE} [--json]`;

export const POLICY_LINT_USAGE = 'usage: trustgate policy lint PATH';
export const POLICY_LOOKUP_USAGE = 'usage: trustgate policy lookup IMAGE --policies PATH [--namespace NS] [--json]';
export const POLICY_USAGES = [POLICY_LINT_USAGE, POLICY_LOOKUP_USAGE];

export const SERVE_USAGE = `usage: trustgate serve (--policies PATH [--policies-interval SECONDS] | --policies-from-cluster [--kubeconfig FILE] [--policies-max-stale DUR]) [--host H] [--port P] [--tls-cert FILE --tls-key FILE] [--tls-san NAME]... [--budget-ms N] [--functions local|openwhisk|URL] [--allow-explicit-trust] [--registry-host HOST[:PORT] [--changefeed-server URL] [--changefeed-interval SECONDS]] ${TRUST_STATE_USAGE}`;

export const STORE_USAGES = [
  'usage: trustgate store check [--state-dir DIR] [--dynamodb-table NAME [--dynamodb-endpoint URL]]',
  'usage: trustgate store init --dynamodb-table NAME [--dynamodb-endpoint URL]',
];

export const DEPLOY_USAGE = 'usage: trustgate deploy openwhisk [--manifest manifest.yaml]';
