// Real notary-server metadata captured for one repository (owner + targets/releases + targets/alice).
import { readFileSync } from 'node:fs';

const FIXTURES = new URL('../../../fixtures/notary/', import.meta.url);

export const SAMPLE_GUN = '127.0.0.1:5000/team/app';
// Inside the sample root certificate's validity (2026-11-27T07:32:27Z .. 2036-11-24T07:32:27Z).
export const SAMPLE_NOW = new Date('2026-11-27T08:00:00Z');

export function readFixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(name, FIXTURES)));
}

// The sample parsed as plain JSON, for building malformed variants.
export function fixtureJson(name: string): { signed: Record<string, unknown>; signatures: unknown[] } {
  return JSON.parse(new TextDecoder().decode(readFixture(name))) as { signed: Record<string, unknown>; signatures: unknown[] };
}

export function toBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
}
