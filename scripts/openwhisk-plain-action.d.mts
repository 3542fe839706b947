// Types of scripts/openwhisk-plain-action.mjs, for the tests that pack actions with it.
export interface SplitFile {
  readonly name: string;
  readonly code: string;
  readonly map: string | object;
}

export interface PlainAction {
  readonly code: string;
  readonly map: string;
  readonly chunkMaps: readonly { readonly name: string; readonly map: object }[];
}

export function packPlainAction(options: { readonly files: readonly SplitFile[]; readonly entry: string; readonly eager: ReadonlySet<string>; readonly main?: string; readonly label: string }): PlainAction;

export function eagerFiles(outputs: Record<string, { readonly imports?: readonly { readonly path: string; readonly kind: string; readonly external?: boolean }[] }>, entryPath: string, nameOf: (path: string) => string): Set<string>;
