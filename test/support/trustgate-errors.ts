// What the code under test threw or rejected with, for tests that assert an error's code.
// Anything thrown that is not a TrustgateError fails the test: an error without one of the
// product's codes is a bug, never an acceptable refusal.
import { expect } from 'vitest';
import { TrustgateError, type ErrorCode } from '../../shared/errors.js';

// The TrustgateError `action` throws; fails the test when it returns.
export function thrownError(action: () => unknown): TrustgateError {
  const error = caught(action);
  if (error === undefined) expect.fail('expected a TrustgateError, nothing was thrown');
  return error;
}

// The code of the TrustgateError `action` throws, or undefined when it returns (property
// tests accept either a value or one given code).
export function errorCodeOf(action: () => unknown): ErrorCode | undefined {
  return caught(action)?.code;
}

// The TrustgateError `promise` rejects with; fails the test when it resolves.
export async function rejectionOf(promise: Promise<unknown>): Promise<TrustgateError> {
  const error = await rejected(promise);
  if (error === undefined) expect.fail('expected a rejection with a TrustgateError, the promise resolved');
  return error;
}

// The code of the TrustgateError `promise` rejects with, or undefined when it resolves.
export async function rejectionCodeOf(promise: Promise<unknown>): Promise<ErrorCode | undefined> {
  return (await rejected(promise))?.code;
}

function caught(action: () => unknown): TrustgateError | undefined {
  try {
    action();
  } catch (error) {
    return asTrustgateError(error);
  }
  return undefined;
}

async function rejected(promise: Promise<unknown>): Promise<TrustgateError | undefined> {
  try {
    await promise;
  } catch (error) {
    return asTrustgateError(error);
  }
  return undefined;
}

function asTrustgateError(error: unknown): TrustgateError {
  expect(error).toBeInstanceOf(TrustgateError);
  return error as TrustgateError;
}
