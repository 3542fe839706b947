import { describe, expect, it } from 'vitest';
import { findDuplicateJsonKey } from '../../shared/json-duplicate-keys.js';

describe('findDuplicateJsonKey', () => {
  it.each([
    ['{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}'],
    ['{"a":"\\"a\\":1","b":"a"}'],
    ['{"a\\\\":1,"a":2}'],
    ['[{"x":1},{"x":1}]'],
    ['{}'],
    ['"a"'],
    ['  { "a" : [ ] , "b" : { } }  '],
  ])('finds no duplicate in %s', (text) => {
    expect(findDuplicateJsonKey(text)).toBeUndefined();
  });

  it.each([
    ['{"trust":{"enabled":true},"trust":{"enabled":false}}', { key: 'trust', path: '' }],
    ['{"spec":{"repositories":[{"name":"a"},{"policy":{"trust":1,"mutateImage":2,"trust":3}}]}}', { key: 'trust', path: 'spec.repositories[1].policy' }],
    ['{"tr\\u0075st":1,"trust":2}', { key: 'trust', path: '' }],
    ['{"a":"x\\"a","a":1}', { key: 'a', path: '' }],
    ['[1,[2,{"k":1,"k":2}]]', { key: 'k', path: '[1][1]' }],
    ['{"metadata":{"annotations":{"trustgate.dev/enforce":"true","trustgate.dev/enforce":"false"}}}', { key: 'trustgate.dev/enforce', path: 'metadata.annotations' }],
  ])('finds the duplicate in %s', (text, duplicate) => {
    expect(findDuplicateJsonKey(text)).toEqual(duplicate);
  });

  it('quotes a key of the path that is not a plain field name, so it cannot forge a line of output', () => {
    expect(findDuplicateJsonKey('{"a\\nb: c":{"k":1,"k":2}}')).toEqual({ key: 'k', path: '["a\\nb: c"]' });
  });

  it('walks a deeply nested text without recursion', () => {
    const depth = 100_000;
    const text = `${'['.repeat(depth)}{"a":1,"a":2}${']'.repeat(depth)}`;
    expect(findDuplicateJsonKey(text)?.key).toBe('a');
  });
});
