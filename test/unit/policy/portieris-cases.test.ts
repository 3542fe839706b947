// Portieris' own unit-test expectations (test/fixtures/portieris), decided by trustgate's
// lookup. A case trustgate deliberately decides otherwise names its answer and the reason.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseImageReference } from '../../../shared/image/reference.js';
import { matchesImagePattern, matchGlob, toImagePattern } from '../../../shared/policy/image-pattern.js';
import { lookupPolicy } from '../../../shared/policy/match-policy.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';
import type { PolicySet } from '../../../shared/policy/model.js';

function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../../fixtures/portieris/${name}`, import.meta.url), 'utf8')) as T;
}

interface FindCase {
  readonly from: string;
  readonly kind: 'ImagePolicy' | 'ClusterImagePolicy';
  readonly patterns: readonly string[];
  readonly image: string;
  readonly want: string | null;
  readonly trustgate?: string | null;
  readonly why?: string;
}

interface PolicyDoc {
  readonly kind: 'ImagePolicy' | 'ClusterImagePolicy';
  readonly name: string;
  readonly namespace?: string;
  readonly repositories: readonly { readonly name: string; readonly trust: boolean }[];
}

interface EnforceCase {
  readonly from: string;
  readonly namespace: string;
  readonly image: string;
  readonly policies: readonly (Omit<PolicyDoc, 'repositories'> & { readonly repositories: readonly string[] })[];
  readonly want: 'deny' | { readonly trust: boolean };
}

// Through the real decoder, as every entry point reads policies.
function policySet(docs: readonly PolicyDoc[]): PolicySet {
  const items = docs.map((doc) => ({
    apiVersion: 'portieris.cloud.ibm.com/v1',
    kind: doc.kind,
    metadata: { name: doc.name, ...(doc.namespace === undefined ? {} : { namespace: doc.namespace }) },
    spec: { repositories: doc.repositories.map((repository) => ({ name: repository.name, policy: { trust: { enabled: repository.trust } } })) },
  }));
  return decodePolicyDocuments([{ source: 'portieris.json', text: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }) }]);
}

describe("Portieris' FindImagePolicy and FindClusterImagePolicy expectations", () => {
  const { cases } = fixture<{ cases: FindCase[] }>('find-policy.json');

  for (const testCase of cases) {
    const expected = testCase.why === undefined ? testCase.want : (testCase.trustgate ?? null);
    const label = testCase.why === undefined ? 'as Portieris does' : `(deliberately not ${JSON.stringify(testCase.want)}: ${testCase.why})`;
    it(`${testCase.from}: ${testCase.image} under ${JSON.stringify(testCase.patterns)} is governed by ${JSON.stringify(expected)} ${label}`, () => {
      const set = policySet([
        { kind: testCase.kind, name: 'policy', repositories: testCase.patterns.map((name) => ({ name, trust: false })) },
      ]);
      const result = lookupPolicy(set, parseImageReference(testCase.image), 'default');
      expect(result.matched ? result.source.pattern : null).toBe(expected);
    });
  }

  it('carries every deliberate difference with its reason', () => {
    const differing = cases.filter((testCase) => testCase.trustgate !== undefined);
    expect(differing.length).toBeGreaterThan(0);
    expect(differing.every((testCase) => typeof testCase.why === 'string' && testCase.trustgate !== testCase.want)).toBe(true);
  });
});

describe("Portieris' GetPolicyToEnforce expectations", () => {
  const { repositories, cases } = fixture<{ repositories: Record<string, { name: string; trust: boolean }>; cases: EnforceCase[] }>('policy-to-enforce.json');

  for (const testCase of cases) {
    it(`${testCase.from}`, () => {
      const set = policySet(
        testCase.policies.map((doc) => ({
          ...doc,
          repositories: doc.repositories.map((key) => {
            const repository = repositories[key];
            if (repository === undefined) throw new Error(`fixture names unknown repository ${key}`);
            return repository;
          }),
        })),
      );
      const result = lookupPolicy(set, parseImageReference(testCase.image), testCase.namespace);
      if (testCase.want === 'deny') expect(result.matched).toBe(false);
      else expect(result.matched && result.policy.trust.enabled).toBe(testCase.want.trust);
    });
  }
});

describe("Portieris' wildcard expectations", () => {
  const { compare, imageRef } = fixture<{
    compare: { from: string; pattern: string; text: string; match: boolean }[];
    imageRef: { from: string; pattern: string; image: string; match: boolean }[];
  }>('wildcard.json');

  for (const testCase of compare) {
    it(`${testCase.from}: ${JSON.stringify(testCase.pattern)} against ${JSON.stringify(testCase.text)} is ${testCase.match}`, () => {
      expect(matchGlob(testCase.pattern, testCase.text)).toBe(testCase.match);
    });
  }

  for (const testCase of imageRef) {
    it(`${testCase.from}: ${testCase.pattern} against ${testCase.image} is ${testCase.match}`, () => {
      expect(matchesImagePattern(toImagePattern(testCase.pattern), parseImageReference(testCase.image))).toBe(testCase.match);
    });
  }
});
