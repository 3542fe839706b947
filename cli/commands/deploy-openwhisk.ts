// `trustgate deploy openwhisk [--manifest FILE]`: applies the wskdeploy manifest (package,
// actions from the built bundles, triggers with their feeds, rules) to an OpenWhisk namespace.
import { readFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, ExitCode, UsageError } from '../cli-error.js';
import type { CliIo } from '../io.js';
import { readActionCode, type ActionCode } from '../openwhisk/action-code.js';
import { applyDeployPlan, DeployStepError } from '../openwhisk/apply-deploy-plan.js';
import { resolveCredentials } from '../openwhisk/credentials.js';
import { decodeDeployPlan, type DeployPlan } from '../openwhisk/deploy-plan.js';
import { DEPLOY_USAGE } from '../usage.js';

// Exit 0 deployed, 1 the OpenWhisk API refused or could not be reached (naming the entity),
// 2 usage or configuration error (no manifest, an invalid one, a missing bundle, no
// credentials). Everything that can be checked locally is checked before the first request.
export async function runDeploy(args: readonly string[], io: CliIo): Promise<ExitCode> {
  let auth: string | undefined;
  try {
    const { positionals, values } = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: { manifest: { type: 'string', default: 'manifest.yaml' } },
    });
    const [target, ...extra] = positionals;
    if (target === undefined) throw new UsageError('missing deploy target: expected openwhisk');
    if (target !== 'openwhisk') throw new UsageError(`unknown deploy target ${JSON.stringify(target)}: expected openwhisk`);
    if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);

    const manifestFile = resolve(values.manifest);
    const plan = decodeDeployPlan(await readManifest(manifestFile), dirname(manifestFile), io.env);
    const code = await readActionsCode(plan);
    const credentials = await resolveCredentials(io.env);
    auth = credentials.auth;
    await applyDeployPlan(plan, code, credentials, (line) => io.stdout(`${line}\n`));
    io.stdout(`deployed ${plan.actions.length} actions, ${plan.triggers.length} triggers, ${plan.rules.length} rules to ${credentials.apihost}\n`);
    return ExitCode.ALLOWED;
  } catch (error) {
    if (error instanceof UsageError || isParseArgsError(error)) {
      io.stderr(`trustgate: ${(error as Error).message}\n${DEPLOY_USAGE}\n`);
      return ExitCode.USAGE;
    }
    if (error instanceof ConfigError) {
      io.stderr(`trustgate: ${error.message}\n${error.problems.map((problem) => `  ${problem}\n`).join('')}`);
      return ExitCode.USAGE;
    }
    const message = error instanceof DeployStepError ? error.message : `deploy failed: ${(error as Error).message}`;
    io.stderr(`trustgate: ${redact(message, auth)}\n`);
    return ExitCode.DENIED;
  }
}

async function readManifest(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read manifest ${file}: ${(error as NodeJS.ErrnoException).code ?? 'unknown error'}`);
  }
}

// Every action's code (its built file), or one error naming every missing bundle.
async function readActionsCode(plan: DeployPlan): Promise<Map<string, ActionCode>> {
  const code = new Map<string, ActionCode>();
  const missing: string[] = [];
  for (const action of plan.actions) {
    try {
      code.set(action.name, await readActionCode(action.codeFile));
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError(`cannot read the code of ${action.name}: ${(error as Error).message}`);
      missing.push(`${action.name}: ${relative(process.cwd(), action.codeFile)} is missing`);
    }
  }
  if (missing.length > 0) throw new ConfigError('action code is missing: run `npm run build` first', missing);
  return code;
}

// Defence in depth: no message printed by this command may carry the API key, whole, in
// its two halves, or as the Basic credential the client sends.
function redact(text: string, auth: string | undefined): string {
  if (auth === undefined || auth === '') return text;
  const secrets = [auth, Buffer.from(auth).toString('base64'), ...auth.split(':')].filter((secret) => secret.length >= 8);
  return secrets.reduce((result, secret) => result.replaceAll(secret, '[redacted]'), text);
}

function isParseArgsError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}
