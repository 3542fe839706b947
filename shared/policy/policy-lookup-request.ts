// Decodes the policy-lookup function's request once, at the edge, reporting every bad field
// at once. The image is parsed here as well, so a reference the product cannot normalise is
// the caller's error (the field `image`), never a lookup that silently matches nothing.
import { ErrorCode, TrustgateError, isTrustgateError, type FieldProblem } from '../errors.js';
import { parseImageReference, type ImageReference } from '../image/reference.js';
import { isPlainObject } from '../json.js';

export interface PolicyLookupRequest {
  readonly image: ImageReference;
  readonly namespace: string;
}

const KNOWN_FIELDS = new Set(['image', 'namespace']);
// Kubernetes namespace names are DNS labels.
const NAMESPACE_PATTERN = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const MAX_IMAGE_LENGTH = 4096;

export function decodePolicyLookupRequest(input: unknown): PolicyLookupRequest {
  if (!isPlainObject(input)) {
    throw invalid([{ path: '', message: 'must be an object with image and namespace' }]);
  }
  const problems: FieldProblem[] = [];
  for (const key of Object.keys(input)) {
    if (!KNOWN_FIELDS.has(key)) problems.push({ path: key, message: 'is not a known field' });
  }
  const image = decodeImage(input['image'], problems);
  const namespace = input['namespace'];
  if (typeof namespace !== 'string' || !NAMESPACE_PATTERN.test(namespace)) {
    problems.push({ path: 'namespace', message: namespace === undefined ? 'is required' : 'must be a Kubernetes namespace name' });
  }
  if (problems.length > 0 || image === undefined) throw invalid(problems);
  return { image, namespace: namespace as string };
}

// The image as a normalised reference, or a problem at `image`.
function decodeImage(value: unknown, problems: FieldProblem[]): ImageReference | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_IMAGE_LENGTH) {
    problems.push({ path: 'image', message: value === undefined ? 'is required' : 'must be a non-empty string' });
    return undefined;
  }
  try {
    return parseImageReference(value);
  } catch (error) {
    if (!isTrustgateError(error)) throw error;
    problems.push({ path: 'image', message: error.message });
    return undefined;
  }
}

function invalid(problems: readonly FieldProblem[]): TrustgateError {
  const summary = problems.map((p) => (p.path === '' ? p.message : `${p.path}: ${p.message}`)).join('; ');
  return new TrustgateError(ErrorCode.REQUEST_INVALID, `invalid policy-lookup request: ${summary}`, { problems });
}
