import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { parseJsonSafely } from '../../shared/json.js';
import { errorCodeOf } from '../support/trustgate-errors.js';

describe('parseJsonSafely', () => {
  describe('when a key could pollute a prototype', () => {
    it.each([
      ['__proto__', '{"a":{"__proto__":{"x":1}}}'],
      ['constructor', '{"constructor":{"prototype":{}}}'],
      ['__proto__ spelled with \\u escapes', '{"\\u005f\\u005fproto\\u005f\\u005f":{"x":1}}'],
      ['prototype spelled with a \\u escape', '{"prot\\u006ftype":1}'],
    ])('rejects %s with REQUEST_INVALID', (_name, text) => {
      expect(errorCodeOf(() => parseJsonSafely(text))).toBe(ErrorCode.REQUEST_INVALID);
    });
  });

  it('rejects text that is not JSON', () => {
    expect(errorCodeOf(() => parseJsonSafely('{"a":'))).toBe(ErrorCode.REQUEST_INVALID);
  });

  it('parses any other JSON value exactly as JSON.parse does', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value);
        const hostile = /"(__proto__|constructor|prototype)":/.test(text);
        if (hostile) expect(errorCodeOf(() => parseJsonSafely(text))).toBe(ErrorCode.REQUEST_INVALID);
        else expect(parseJsonSafely(text)).toEqual(JSON.parse(text));
      }),
    );
  });
});
