import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { MAX_JSON_DEPTH, adoptUntrustedValue, ownMember, parseJsonBytesInPlace, parseJsonSafely } from '../../shared/json.js';
import { errorCodeOf } from '../support/trustgate-errors.js';

function nested(depth: number): string {
  return `${'{"a":['.repeat(depth)}1${']}'.repeat(depth)}`;
}

describe('parseJsonSafely', () => {
  describe('when a key is named like a property of Object.prototype', () => {
    it.each([
      ['__proto__', '{"a":{"__proto__":{"x":1}}}', '__proto__'],
      ['constructor', '{"a":{"constructor":{"x":1}}}', 'constructor'],
      ['__proto__ spelled with \\u escapes', '{"a":{"\\u005f\\u005fproto\\u005f\\u005f":{"x":1}}}', '__proto__'],
      ['prototype spelled with a \\u escape', '{"a":{"prot\\u006ftype":{"x":1}}}', 'prototype'],
      ['toString', '{"a":{"toString":{"x":1}}}', 'toString'],
      ['hasOwnProperty', '{"a":{"hasOwnProperty":{"x":1}}}', 'hasOwnProperty'],
    ])('keeps %s as an own data property', (_name, text, key) => {
      const value = parseJsonSafely(text) as Record<string, Record<string, unknown>>;
      const inner = value['a'] ?? {};
      expect(Object.keys(inner)).toEqual([key]);
      expect(Object.getOwnPropertyDescriptor(inner, key)?.value).toEqual({ x: 1 });
      expect(Object.getPrototypeOf(inner)).toBeNull();
      expect(({} as Record<string, unknown>)['x']).toBeUndefined();
    });
  });

  it('gives every object a null prototype, so a key the document lacks finds nothing', () => {
    const value = parseJsonSafely('{"labels":{"app":"x"},"list":[{"b":1}]}') as Record<string, Record<string, unknown> | Record<string, unknown>[]>;
    const labels = value['labels'] as Record<string, unknown>;
    expect('constructor' in labels).toBe(false);
    expect('toString' in labels).toBe(false);
    expect(Object.getPrototypeOf((value['list'] as Record<string, unknown>[])[0])).toBeNull();
  });

  it('keeps a top-level __proto__ member as data and never changes a prototype', () => {
    const value = parseJsonSafely('{"__proto__":{"polluted":"yes"}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBeNull();
    expect(Object.keys(value)).toEqual(['__proto__']);
    expect(value['__proto__']).toEqual({ polluted: 'yes' });
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('rejects text that is not JSON', () => {
    expect(errorCodeOf(() => parseJsonSafely('{"a":'))).toBe(ErrorCode.REQUEST_INVALID);
  });

  describe('when a document nests deeply', () => {
    it('accepts nesting up to the bound', () => {
      expect(() => parseJsonSafely(nested(MAX_JSON_DEPTH / 2 - 1))).not.toThrow();
    });

    it('rejects nesting beyond the bound with the given code', () => {
      expect(errorCodeOf(() => parseJsonSafely(nested(MAX_JSON_DEPTH), ErrorCode.TRUST_METADATA_INVALID))).toBe(ErrorCode.TRUST_METADATA_INVALID);
    });

    it('rejects 200,000 levels without overflowing the call stack', () => {
      expect(errorCodeOf(() => parseJsonSafely(nested(200_000)))).toBe(ErrorCode.REQUEST_INVALID);
      expect(errorCodeOf(() => parseJsonSafely(`${'['.repeat(200_000)}${']'.repeat(200_000)}`))).toBe(ErrorCode.REQUEST_INVALID);
    });
  });

  it('parses any JSON value to what JSON.parse gives, keys included', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 20 }), (value) => {
        const text = JSON.stringify(value);
        expect(parseJsonSafely(text)).toEqual(JSON.parse(text));
        expect(JSON.stringify(parseJsonSafely(text))).toBe(text);
      }),
    );
  });
});

describe('parseJsonBytesInPlace with ownMember', () => {
  const parse = (text: string, code?: ErrorCode): unknown => parseJsonBytesInPlace(new TextEncoder().encode(text), code);

  it.each(['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'])('reads a member named %s as the data the document holds', (key) => {
    const value = parse(`{"a":{${JSON.stringify(key)}:{"x":1}}}`) as Record<string, Record<string, unknown>>;
    const inner = ownMember(value, 'a') as Record<string, unknown>;
    expect(Object.keys(inner)).toEqual([key]);
    expect(ownMember(inner, key)).toEqual({ x: 1 });
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
  });

  it('reads a name the document lacks as undefined, never as what Object.prototype holds', () => {
    const value = parse('{"labels":{"app":"x"}}') as Record<string, unknown>;
    const labels = ownMember(value, 'labels') as Record<string, unknown>;
    for (const key of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) expect(ownMember(labels, key)).toBeUndefined();
  });

  it('keeps a __proto__ member as data: it sets no prototype and hides nothing behind one', () => {
    const value = parse('{"__proto__":{"request":{"uid":"x"}}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(ownMember(value, 'request')).toBeUndefined();
    expect(ownMember(value, '__proto__')).toEqual({ request: { uid: 'x' } });
  });

  it('rejects bytes that are not UTF-8 and text that is not JSON', () => {
    expect(errorCodeOf(() => parseJsonBytesInPlace(new Uint8Array([0x7b, 0xff, 0x7d])))).toBe(ErrorCode.REQUEST_INVALID);
    expect(errorCodeOf(() => parse('{"a":'))).toBe(ErrorCode.REQUEST_INVALID);
  });

  it('holds the same depth bound as parseJsonSafely, without overflowing the call stack', () => {
    expect(() => parse(nested(MAX_JSON_DEPTH / 2 - 1))).not.toThrow();
    expect(errorCodeOf(() => parse(nested(MAX_JSON_DEPTH), ErrorCode.TRUST_METADATA_INVALID))).toBe(ErrorCode.TRUST_METADATA_INVALID);
    expect(errorCodeOf(() => parse(`${'['.repeat(200_000)}${']'.repeat(200_000)}`))).toBe(ErrorCode.REQUEST_INVALID);
  });

  it('parses any JSON value to what JSON.parse gives', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 20 }), (value) => {
        const text = JSON.stringify(value);
        expect(parse(text)).toEqual(JSON.parse(text));
      }),
    );
  });
});

describe('adoptUntrustedValue', () => {
  it('converts a value shared by two parents once, and keeps both links', () => {
    const shared = { a: 1 };
    const value = adoptUntrustedValue({ x: shared, y: [shared] }) as { x: object; y: object[] };
    expect(value.x).toBe(value.y[0]);
    expect(Object.getPrototypeOf(value.x)).toBeNull();
  });
});
