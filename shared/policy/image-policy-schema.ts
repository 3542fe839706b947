// The JSON Schema of the `spec` of portieris.cloud.ibm.com/v1 ImagePolicy and ClusterImagePolicy.
// The schema itself lives in image-policy-schema.json: the CRDs under infra/crds are generated
// from that file (scripts/generate-crds.mjs) and the policy decoder validates against it, so the
// cluster and this product can never disagree about what a policy looks like.
import imagePolicySpecJson from './image-policy-schema.json' with { type: 'json' };

export type JsonSchemaNode = Readonly<Record<string, unknown>>;

// Kept within the Kubernetes structural-schema subset: every node has a type, no $ref, no
// additionalProperties next to properties. Kubernetes prunes unknown fields instead.
export const imagePolicySpecSchema: JsonSchemaNode = imagePolicySpecJson;

// The same schema with `additionalProperties: false` on every object that lists its properties.
// Kubernetes would silently prune a misspelt field (`enable: true` instead of `enabled: true`),
// which for a trust policy means turning verification off without anyone noticing; a policy file
// read by this product is rejected instead.
export function toClosedSchema(node: JsonSchemaNode): JsonSchemaNode {
  const closed: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'properties' && isSchemaMap(value)) {
      closed[key] = Object.fromEntries(Object.entries(value).map(([name, child]) => [name, toClosedSchema(child)]));
    } else if (key === 'items' && isSchemaNode(value)) {
      closed[key] = toClosedSchema(value);
    } else {
      closed[key] = value;
    }
  }
  if (isSchemaMap(node['properties'])) closed['additionalProperties'] = false;
  return closed;
}

function isSchemaNode(value: unknown): value is JsonSchemaNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isSchemaMap(value: unknown): value is Readonly<Record<string, JsonSchemaNode>> {
  return isSchemaNode(value) && Object.values(value).every(isSchemaNode);
}
