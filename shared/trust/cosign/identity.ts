// Keyless identities: the OIDC issuer and the subject (certificate SAN) a Fulcio certificate
// must name, each exact or a regular expression anchored at both ends (a pattern never
// matches part of a value: `^https://github\.com/acme/.+$` and `https://github\.com/acme/.+`
// mean the same). The patterns are the operator's; the values are only read from a
// certificate whose chain and log entry have been verified.
import type { CertificateIdentity } from '../verifier.js';

// Longest pattern a policy may hold: bounds compile time and keeps policies readable.
export const MAX_IDENTITY_PATTERN_LENGTH = 1024;

// The anchored form of a pattern; throws SyntaxError when it is not a regular expression.
// Security: the pattern must be a regular expression on its own before it is wrapped, so it
// cannot close the wrapping group (`A)|(B` would become `^(?:A)|(B)$`, each alternative
// anchored at one end only, and `B` would match the end of a foreign subject).
export function anchoredRegExp(pattern: string): RegExp {
  new RegExp(pattern, 'u');
  return new RegExp(`^(?:${pattern})$`, 'u');
}

// Compiled patterns per source text: policies name the same few on every admission.
const COMPILED = new Map<string, RegExp>();

function compiled(pattern: string): RegExp {
  let regexp = COMPILED.get(pattern);
  if (regexp === undefined) {
    regexp = anchoredRegExp(pattern);
    if (COMPILED.size >= 1024) COMPILED.clear();
    COMPILED.set(pattern, regexp);
  }
  return regexp;
}

function matches(exact: string | undefined, pattern: string | undefined, value: string): boolean {
  if (exact !== undefined) return exact === value;
  if (pattern !== undefined) return compiled(pattern).test(value);
  return false;
}

// True when the certificate's issuer and subject are the ones `identity` names.
export function matchesIdentity(identity: CertificateIdentity, issuer: string, subject: string): boolean {
  return matches(identity.issuer, identity.issuerRegExp, issuer) && matches(identity.subject, identity.subjectRegExp, subject);
}

// Problems with one identity as a policy or a command line states it, by field name.
export function identityProblems(identity: CertificateIdentity): readonly { readonly field: string; readonly message: string }[] {
  const problems: { field: string; message: string }[] = [];
  const pair = (exact: 'issuer' | 'subject', pattern: 'issuerRegExp' | 'subjectRegExp'): void => {
    if (identity[exact] !== undefined && identity[pattern] !== undefined) problems.push({ field: exact, message: `must not be given together with ${pattern}` });
    else if (identity[exact] === undefined && identity[pattern] === undefined) problems.push({ field: exact, message: `or ${pattern} is required` });
    const source = identity[pattern];
    if (source === undefined) return;
    if (source.length > MAX_IDENTITY_PATTERN_LENGTH) problems.push({ field: pattern, message: `is longer than ${MAX_IDENTITY_PATTERN_LENGTH} characters` });
    else {
      try {
        anchoredRegExp(source);
      } catch (error) {
        problems.push({ field: pattern, message: `is not a regular expression (${(error as Error).message})` });
      }
    }
  };
  pair('issuer', 'issuerRegExp');
  pair('subject', 'subjectRegExp');
  return problems;
}

// An identity for answers and logs: `issuer subject`.
export function describeIdentity(identity: CertificateIdentity): string {
  const issuer = identity.issuer ?? `/${identity.issuerRegExp ?? ''}/`;
  const subject = identity.subject ?? `/${identity.subjectRegExp ?? ''}/`;
  return `${subject} from ${issuer}`;
}
