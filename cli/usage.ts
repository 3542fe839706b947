// The usage line of every command, kept apart from the commands themselves: `trustgate --help`
// prints them all without loading any command's code.
export const TRUST_STATE_USAGE = '[--state-dir DIR] [--freshness DUR] [--max-stale DUR] [--dynamodb-table NAME [--dynamodb-endpoint URL]] [--sigstore-tuf-url URL [--sigstore-tuf-root FILE] [--sigstore-refresh-interval DUR]]';

export const VERIFY_USAGE = `usage: trustgate verify IMAGE [--trust-server URL] [--signer NAME=PEMFILE]... [--root-key-id ID]... [--cosign-key PEMFILE]... [--certificate-identity ID --certificate-oidc-issuer URL [--trusted-root FILE]] ${TRUST_STATE_USAGE} [--json]`;
export const VERIFY_POLICY_USAGE = `usage: trustgate verify IMAGE --policies PATH [--namespace NS] ${TRUST_STATE_USAGE} [--json]`;

export const POLICY_LINT_USAGE = 'usage: trustgate policy lint PATH';
export const POLICY_LOOKUP_USAGE = 'usage: trustgate policy lookup IMAGE --policies PATH [--namespace NS] [--json]';
export const POLICY_APPLY_USAGE = 'usage: trustgate policy apply PATH --cluster-id ID [--state-dir DIR | --dynamodb-table NAME [--dynamodb-endpoint URL]]';
export const POLICY_USAGES = [POLICY_LINT_USAGE, POLICY_LOOKUP_USAGE, POLICY_APPLY_USAGE];

export const SERVE_USAGE = `usage: trustgate serve (--policies PATH [--policies-interval SECONDS] | --policies-from-cluster [--kubeconfig FILE] [--policies-max-stale DUR] [--policy-secrets-max N] [--policy-secrets-max-bytes BYTES]) [--host H] [--port P] [--tls-cert FILE --tls-key FILE] [--tls-san NAME]... [--client-ca FILE] [--budget-ms N] [--functions local|openwhisk|URL] [--allow-explicit-trust] [--registry-host HOST[:PORT] [--changefeed-server URL] [--changefeed-interval SECONDS]] [--pull-secrets-from-cluster] [--publish-cluster-id ID] [--max-connections N] ${TRUST_STATE_USAGE}`;

export const STORE_USAGES = [
  'usage: trustgate store check [--state-dir DIR] [--dynamodb-table NAME [--dynamodb-endpoint URL]]',
  'usage: trustgate store init --dynamodb-table NAME [--dynamodb-endpoint URL]',
];

export const SIGSTORE_ROOT_USAGE = `usage: trustgate sigstore root [--refresh] [--json] ${TRUST_STATE_USAGE}`;
export const MIGRATE_REPORT_USAGE = `usage: trustgate migrate report --policies PATH [--namespace NS]... [IMAGE...] [--from-file FILE] [--offline] ${TRUST_STATE_USAGE} [--json]`;
export const MIGRATE_SIGN_USAGE =
  'usage: trustgate migrate sign --policies PATH --cosign-key KEYFILE [--format bundle|classic] [--dry-run] [--namespace NS]... [IMAGE...] [--from-file FILE] [--registry-username USER] ' +
  `${TRUST_STATE_USAGE} [--json]`;
export const MIGRATE_USAGES = [MIGRATE_REPORT_USAGE, MIGRATE_SIGN_USAGE];
export const SIGSTORE_USAGE = 'usage: trustgate sigstore verify-bundle --bundle FILE (--key PEMFILE | --certificate-identity ID --certificate-oidc-issuer URL) [--trusted-root FILE] FILE_OR_DIGEST';

export const DEPLOY_USAGE = 'usage: trustgate deploy openwhisk [--manifest manifest.yaml]';
