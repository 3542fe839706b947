import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, TrustgateError } from '../../../shared/errors.js';
import { loadOrCreateStateKey, STATE_KEY_FILE_NAME } from '../../../infra/store/state-key.js';

const dirs: string[] = [];
const stateDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'trustgate-state-key-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('the state key of the embedded store', () => {
  it('is created once, readable only by its owner, and read back unchanged', () => {
    const dir = stateDir();
    const first = loadOrCreateStateKey(dir);
    const file = join(dir, STATE_KEY_FILE_NAME);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    expect(Buffer.from(loadOrCreateStateKey(dir)).equals(Buffer.from(first))).toBe(true);
  });

  it('leaves no temporary file behind', () => {
    const dir = stateDir();
    loadOrCreateStateKey(dir);
    expect(readdirSync(dir)).toEqual([STATE_KEY_FILE_NAME]);
  });

  it('refuses an empty or damaged key file instead of replacing it with a new key', () => {
    for (const damaged of ['', 'not a key\n', `${'ab'.repeat(8)}\n`]) {
      const dir = stateDir();
      writeFileSync(join(dir, STATE_KEY_FILE_NAME), damaged, { mode: 0o600 });
      let caught: unknown;
      try {
        loadOrCreateStateKey(dir);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(TrustgateError);
      expect((caught as TrustgateError).code).toBe(ErrorCode.CONFIG_INVALID);
      expect((caught as TrustgateError).message).toContain(STATE_KEY_FILE_NAME);
      expect(readFileSync(join(dir, STATE_KEY_FILE_NAME), 'utf8')).toBe(damaged);
    }
  });
});

