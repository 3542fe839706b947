// File adapter: a file or folder of policy documents, read and decoded in one step.
import { decodePolicyDocuments } from './decode-documents.js';
import type { PolicySet } from './model.js';
import { readPolicyFiles } from './policy-files.js';

// Unreadable path: CONFIG_INVALID. Any bad document: POLICY_INVALID with every problem.
export async function readPolicySet(path: string): Promise<PolicySet> {
  return decodePolicyDocuments(await readPolicyFiles(path));
}
