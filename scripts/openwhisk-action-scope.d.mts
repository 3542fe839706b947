// Types of scripts/openwhisk-action-scope.mjs, for the tests that check actions with it.
export const RUNTIME_SCOPE_NAMES: ReadonlyMap<string, string>;
export const PROVIDED_NAMES: ReadonlySet<string>;
export function actionScopeProblems(code: string): string[];
export function assertOwnScope(code: string, label: string): void;
