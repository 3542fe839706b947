// Vitest's asymmetric matchers, typed as the `unknown` they are compared with. Vitest declares
// them as returning `any`, and an `any` placed inside an expected object switches type
// checking off there.
import { expect } from 'vitest';

export function anyString(): unknown {
  return expect.any(String);
}

export function stringContaining(text: string): unknown {
  return expect.stringContaining(text);
}

export function objectContaining(shape: Readonly<Record<string, unknown>>): unknown {
  return expect.objectContaining(shape);
}
