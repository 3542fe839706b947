// wskdeploy's `$NAME` / `${NAME}` substitution from the deploying shell's environment, applied
// to every string inside a manifest value. Names it could not resolve are reported, so the
// caller decides whether a missing variable is an error or leaves the value out.
export type Env = Readonly<Record<string, string | undefined>>;

const VARIABLE = /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g;

export function substituteEnv(value: unknown, env: Env): { readonly value: unknown; readonly missing: readonly string[] } {
  const missing: string[] = [];
  const walk = (node: unknown): unknown => {
    if (typeof node === 'string') {
      return node.replace(VARIABLE, (_match, braced: string | undefined, bare: string | undefined) => {
        const name = braced ?? bare ?? '';
        const resolved = env[name];
        if (resolved === undefined || resolved === '') {
          if (!missing.includes(name)) missing.push(name);
          return '';
        }
        return resolved;
      });
    }
    if (Array.isArray(node)) return node.map(walk);
    if (typeof node === 'object' && node !== null) {
      return Object.fromEntries(Object.entries(node).map(([key, child]) => [key, walk(child)]));
    }
    return node;
  };
  return { value: walk(value), missing };
}
