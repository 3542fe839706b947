import { readFile } from 'node:fs/promises';
import { Ajv } from 'ajv';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { imagePolicySpecSchema, toClosedSchema, type JsonSchemaNode } from '../../../shared/policy/image-policy-schema.js';

const crdDir = fileURLToPath(new URL('../../../infra/crds/', import.meta.url));

const CRDS = [
  { file: 'imagepolicies.yaml', kind: 'ImagePolicy', plural: 'imagepolicies', singular: 'imagepolicy', scope: 'Namespaced' },
  { file: 'clusterimagepolicies.yaml', kind: 'ClusterImagePolicy', plural: 'clusterimagepolicies', singular: 'clusterimagepolicy', scope: 'Cluster' },
] as const;

interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  schema: { openAPIV3Schema: { type: string; properties: { spec: unknown } } };
}
interface Crd {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: { group: string; scope: string; names: Record<string, unknown>; versions: CrdVersion[] };
}

async function readCrd(file: string): Promise<Crd> {
  return parse(await readFile(`${crdDir}${file}`, 'utf8')) as Crd;
}

// Every schema node in the tree, with its JSON path, for structural-schema rules.
function* schemaNodes(node: JsonSchemaNode, path = 'spec'): Generator<[string, JsonSchemaNode]> {
  yield [path, node];
  const properties = node['properties'] as Record<string, JsonSchemaNode> | undefined;
  for (const [name, child] of Object.entries(properties ?? {})) yield* schemaNodes(child, `${path}.${name}`);
  const items = node['items'] as JsonSchemaNode | undefined;
  if (items !== undefined) yield* schemaNodes(items, `${path}[]`);
}

describe('the committed CRDs', () => {
  describe.each(CRDS)('$file', (expected) => {
    it('carries exactly the policy spec schema (regenerate with scripts/generate-crds.mjs)', async () => {
      const crd = await readCrd(expected.file);
      expect(crd.spec.versions).toHaveLength(1);
      expect(crd.spec.versions[0]?.schema.openAPIV3Schema.properties.spec).toEqual(imagePolicySpecSchema);
    });

    it('declares the Portieris group, names and scope', async () => {
      const crd = await readCrd(expected.file);
      expect(crd.apiVersion).toBe('apiextensions.k8s.io/v1');
      expect(crd.kind).toBe('CustomResourceDefinition');
      expect(crd.metadata.name).toBe(`${expected.plural}.portieris.cloud.ibm.com`);
      expect(crd.spec.group).toBe('portieris.cloud.ibm.com');
      expect(crd.spec.scope).toBe(expected.scope);
      expect(crd.spec.names).toEqual({
        kind: expected.kind,
        listKind: `${expected.kind}List`,
        plural: expected.plural,
        singular: expected.singular,
      });
      expect(crd.spec.versions[0]).toMatchObject({ name: 'v1', served: true, storage: true });
    });
  });
});

describe('imagePolicySpecSchema', () => {
  const nodes = [...schemaNodes(imagePolicySpecSchema)];

  describe('as a Kubernetes structural schema', () => {
    it.each(nodes)('%s has a type', (_path, node) => {
      expect(typeof node['type']).toBe('string');
    });

    it('uses no $ref and never additionalProperties beside properties', () => {
      const text = JSON.stringify(imagePolicySpecSchema);
      expect(text).not.toContain('$ref');
      expect(nodes.filter(([, node]) => 'additionalProperties' in node && 'properties' in node)).toEqual([]);
    });
  });

  describe('toClosedSchema', () => {
    it('closes every object that lists properties and leaves the source schema untouched', () => {
      const closed = [...schemaNodes(toClosedSchema(imagePolicySpecSchema))];
      expect(closed.filter(([, node]) => 'properties' in node).every(([, node]) => node['additionalProperties'] === false)).toBe(true);
      expect(nodes.some(([, node]) => 'additionalProperties' in node)).toBe(false);
    });
  });
});

// The decoder compiles the schema without checking it against the meta-schema (a start-up
// cost every process would pay); this is where a malformed schema is caught instead.
describe('the image policy spec schema', () => {
  it('is a valid JSON Schema, as written and closed', () => {
    const ajv = new Ajv({ strict: true });
    expect(ajv.validateSchema(imagePolicySpecSchema), ajv.errorsText()).toBe(true);
    expect(ajv.validateSchema(toClosedSchema(imagePolicySpecSchema)), ajv.errorsText()).toBe(true);
  });

  it('fails the meta-schema check when a keyword has the wrong type', () => {
    expect(new Ajv({ strict: true }).validateSchema({ ...imagePolicySpecSchema, required: 'repositories' })).toBe(false);
  });
});
