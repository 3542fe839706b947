import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { isGoFieldKey } from '../../shared/go-json-fields.js';
import { JsonMembers, parseJsonInOrder, type JsonInOrder } from '../../shared/json-in-order.js';
import { MAX_JSON_DEPTH } from '../../shared/json.js';
import { thrownError } from '../support/trustgate-errors.js';

// What JSON.parse makes of the same text: the last of repeated members wins.
function lastWins(value: JsonInOrder): unknown {
  if (value instanceof JsonMembers) {
    const object: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    for (const [key, member] of value.members) object[key] = lastWins(member);
    return object;
  }
  return Array.isArray(value) ? value.map(lastWins) : value;
}

describe('parseJsonInOrder', () => {
  it('keeps every member of an object in document order, repeated keys included', () => {
    const value = parseJsonInOrder('{"auth":"a", "Auth" : "b",\n"auth":"c","n":[1,{"k":null}]}');
    expect(value).toBeInstanceOf(JsonMembers);
    const members = (value as JsonMembers).members;
    expect(members.slice(0, 3)).toEqual([['auth', 'a'], ['Auth', 'b'], ['auth', 'c']]);
    expect(members[3]?.[0]).toBe('n');
    expect(lastWins(members[3]?.[1] ?? null)).toEqual([1, Object.assign(Object.create(null) as object, { k: null })]);
  });

  it('decodes escaped keys and strings, and treats __proto__ as data', () => {
    const value = parseJsonInOrder('{"\\u0061uth":"x\\"y","__proto__":{"a":1}}') as JsonMembers;
    expect(value.members.map(([key]) => key)).toEqual(['auth', '__proto__']);
    expect(value.members[0]?.[1]).toBe('x"y');
  });

  it('refuses text that is not JSON, or nests deeper than the JSON bound, with the given code', () => {
    expect(thrownError(() => parseJsonInOrder('{"a":', ErrorCode.POLICY_INVALID)).code).toBe(ErrorCode.POLICY_INVALID);
    const deep = `${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`;
    expect(thrownError(() => parseJsonInOrder(deep, ErrorCode.POLICY_INVALID)).code).toBe(ErrorCode.POLICY_INVALID);
  });

  it('means what JSON.parse means once repeated members are resolved last-wins', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.boolean(), (value, pretty) => {
        const text = JSON.stringify(value, null, pretty ? 2 : undefined);
        expect(lastWins(parseJsonInOrder(text))).toEqual(JSON.parse(text));
      }),
    );
  });
});

describe('isGoFieldKey', () => {
  it.each([
    ['auth', 'auth'],
    ['Auth', 'auth'],
    ['aUtH', 'auth'],
    ['USERNAME', 'username'],
    ['u\u017fername', 'username'],
    ['identityto\u212aen', 'identitytoken'],
    ['IDENTITYTO\u212aEN', 'identitytoken'],
  ])('matches %s to the field %s, as Go does', (key, name) => {
    expect(isGoFieldKey(key, name)).toBe(true);
  });

  it.each([
    ['auths', 'auth'],
    ['aut', 'auth'],
    ['\u0131dentitytoken', 'identitytoken'],
    ['\u0130dentitytoken', 'identitytoken'],
    ['au\u0074\u0301h', 'auth'],
    ['\uff41uth', 'auth'],
    ['auth ', 'auth'],
  ])('does not match %j to the field %s, as Go does not', (key, name) => {
    expect(isGoFieldKey(key, name)).toBe(false);
  });
});
