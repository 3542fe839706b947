// JSON.parse with the shape a test expects named at the call, instead of the `any` that
// JSON.parse returns. Nothing is checked: a wrong shape shows up as a failing expectation.
export function parseJsonAs<T>(text: string): T {
  return JSON.parse(text) as T;
}
