import { describe, expect, it } from 'vitest';
import { createJsonLogger } from '../../../shared/logging/json-logger.js';
import { JsonFields, JsonText } from '../../../shared/logging/json-text.js';
import { fixedClock } from '../../support/clocks.js';

const AT = new Date('2031-02-03T04:05:06.789Z');

function capture(base?: Record<string, unknown>): { readonly lines: string[]; readonly logger: ReturnType<typeof createJsonLogger> } {
  const lines: string[] = [];
  return { lines, logger: createJsonLogger((line) => lines.push(line), fixedClock(AT), base) };
}

describe('createJsonLogger', () => {
  it('writes one JSON object per call: time, level and message first, then the fields', () => {
    const { lines, logger } = capture();
    logger.warn('admission decision', { uid: 'u-1', images: [{ image: 'docker.io/library/nginx:1', codes: [] }] });
    expect(lines).toHaveLength(1);
    const line = lines[0] ?? '';
    expect(Object.keys(JSON.parse(line) as object)).toEqual(['time', 'level', 'message', 'uid', 'images']);
    expect(JSON.parse(line)).toMatchObject({ level: 'warn', message: 'admission decision', uid: 'u-1', images: [{ image: 'docker.io/library/nginx:1', codes: [] }] });
    expect((JSON.parse(line) as { time: string }).time).toBe(AT.toISOString());
  });

  it('writes a JsonText field as the JSON it holds, in its place among the other fields', () => {
    const { lines, logger } = capture();
    logger.info('admission decision', { uid: 'u-1', images: new JsonText('[{"image":"a","codes":[]}]'), skipped: undefined, status: 200 });
    const line = lines[0] ?? '';
    expect(line).toContain(',"images":[{"image":"a","codes":[]}],');
    expect(Object.keys(JSON.parse(line) as object)).toEqual(['time', 'level', 'message', 'uid', 'images', 'status']);
    expect(JSON.parse(line)).toMatchObject({ uid: 'u-1', images: [{ image: 'a', codes: [] }], status: 200 });
  });

  it('writes JsonFields as the fields they hold, after time, level and message', () => {
    const { lines, logger } = capture();
    logger.warn('admission decision', new JsonFields('"uid":"u-1","images":[{"image":"a"}],"status":403'));
    logger.info('empty', new JsonFields(''));
    expect(lines[0]).toBe(`{"time":"${AT.toISOString()}","level":"warn","message":"admission decision","uid":"u-1","images":[{"image":"a"}],"status":403}`);
    expect(JSON.parse(lines[1] ?? '')).toEqual({ time: AT.toISOString(), level: 'info', message: 'empty' });
  });

  it('adds the base fields to JsonFields as to any fields, after which the given fields win', () => {
    const { lines, logger } = capture({ component: 'serve', region: 'a' });
    logger.info('one', new JsonFields('"region":"b","uid":"u-1"'));
    expect(Object.keys(JSON.parse(lines[0] ?? '') as object)).toEqual(['time', 'level', 'message', 'component', 'region', 'uid']);
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ component: 'serve', region: 'b', uid: 'u-1' });
  });

  it('shows JsonFields to any other reader as the record they hold', () => {
    expect(JSON.parse(JSON.stringify({ fields: new JsonFields('"uid":"u-1","n":[1,2]') }))).toEqual({ fields: { uid: 'u-1', n: [1, 2] } });
  });

  it('writes a line without fields', () => {
    const { lines, logger } = capture();
    logger.info('shutting down');
    expect(JSON.parse(lines[0] ?? '')).toEqual({ time: expect.any(String) as unknown, level: 'info', message: 'shutting down' });
  });

  it('escapes messages and field values so each line stays one JSON object', () => {
    const { lines, logger } = capture();
    logger.error('bad "input"\nnext', { reason: 'quote " and newline \n' });
    expect(lines[0]).not.toContain('\n');
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ message: 'bad "input"\nnext', reason: 'quote " and newline \n' });
  });

  it('does not let a field replace the time, level or message', () => {
    const { lines, logger } = capture();
    logger.info('real message', { message: 'forged', level: 'error', time: 'never', other: 1 });
    const entry = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    expect(entry).toMatchObject({ level: 'info', message: 'real message', 'field.message': 'forged', 'field.level': 'error', 'field.time': 'never', other: 1 });
    expect(entry['time']).not.toBe('never');
  });

  it('adds the base fields to every line, after which call fields win', () => {
    const { lines, logger } = capture({ component: 'serve', region: 'a' });
    logger.info('one', { region: 'b' });
    logger.info('two');
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ message: 'one', component: 'serve', region: 'b' });
    expect(JSON.parse(lines[1] ?? '')).toMatchObject({ message: 'two', component: 'serve', region: 'a' });
  });
});
