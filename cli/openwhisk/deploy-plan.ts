// What `trustgate deploy openwhisk` does to an OpenWhisk namespace, decoded once from a
// wskdeploy manifest: the package, its actions (code file, runtime, annotations, limits,
// init-time parameters), triggers (with an optional feed) and rules. Every problem in the
// manifest is reported at once, before any request is made, so a bad manifest never leaves a
// half-deployed namespace behind.
import { isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../cli-error.js';
import { substituteEnv, type Env } from './substitute-env.js';

export interface ActionPlan {
  readonly name: string; // package/action
  readonly codeFile: string;
  readonly kind: string;
  readonly main: string;
  readonly annotations: Readonly<Record<string, unknown>>;
  readonly limits: { readonly timeout?: number; readonly memory?: number; readonly logs?: number };
  // Sent as init-time parameters: exported to the action's environment, never merged into params.
  readonly parameters: readonly { readonly key: string; readonly value: unknown }[];
}

export interface TriggerPlan {
  readonly name: string;
  readonly feed?: { readonly action: string; readonly params: Readonly<Record<string, unknown>> };
}

export interface RulePlan {
  readonly name: string;
  readonly trigger: string;
  readonly action: string; // package/action
}

export interface DeployPlan {
  readonly packages: readonly string[];
  readonly actions: readonly ActionPlan[];
  readonly triggers: readonly TriggerPlan[];
  readonly rules: readonly RulePlan[];
}

const PACKAGE_FIELDS = new Set(['version', 'license', 'actions', 'triggers', 'rules']);
const ACTION_FIELDS = new Set(['function', 'runtime', 'main', 'web', 'web-export', 'annotations', 'limits', 'inputs']);
const TRIGGER_FIELDS = new Set(['feed', 'inputs']);
const RULE_FIELDS = new Set(['trigger', 'action']);
const TYPED_INPUT_FIELDS = new Set(['type', 'value', 'required', 'description', 'default']);
const LIMITS = { timeout: 'timeout', memorySize: 'memory', logSize: 'logs' } as const;
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_@.\- ]{0,255}$/;

type Problems = string[];

// Decodes the manifest text. `baseDir` is the manifest's folder (function paths are relative
// to it, as in wskdeploy); `env` supplies `$NAME` values.
export function decodeDeployPlan(text: string, baseDir: string, env: Env): DeployPlan {
  const problems: Problems = [];
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`manifest is not valid YAML: ${(error as Error).message.split('\n')[0] ?? ''}`);
  }
  const plan: Context['plan'] = {
    packages: [],
    actions: [],
    triggers: [],
    rules: [],
  };
  if (!isRecord(document) || !isRecord(document['packages']) || Object.keys(document['packages']).length === 0) {
    throw new ConfigError('manifest is invalid', ['packages: must map at least one package name to its definition']);
  }
  for (const key of Object.keys(document)) if (key !== 'packages') problems.push(`${key}: is not supported (only packages)`);
  for (const [packageName, definition] of Object.entries(document['packages'])) {
    decodePackage(packageName, definition, { baseDir, env, problems, plan });
  }
  if (problems.length > 0) throw new ConfigError('manifest is invalid', problems);
  return plan;
}

interface Context {
  readonly baseDir: string;
  readonly env: Env;
  readonly problems: Problems;
  readonly plan: { packages: string[]; actions: ActionPlan[]; triggers: TriggerPlan[]; rules: RulePlan[] };
}

function decodePackage(name: string, definition: unknown, context: Context): void {
  const path = `packages.${name}`;
  const { problems, plan } = context;
  if (!NAME.test(name) || name.includes(' ')) problems.push(`${path}: is not a valid OpenWhisk name`);
  if (!isRecord(definition)) {
    problems.push(`${path}: must be a mapping`);
    return;
  }
  rejectUnknown(definition, PACKAGE_FIELDS, path, problems, 'package inputs would reach every request as params: put configuration on the actions');
  plan.packages.push(name);
  const actions = optionalRecord(definition['actions'], `${path}.actions`, problems);
  for (const [actionName, action] of Object.entries(actions)) decodeAction(name, actionName, action, context);
  const triggers = optionalRecord(definition['triggers'], `${path}.triggers`, problems);
  for (const [triggerName, trigger] of Object.entries(triggers)) decodeTrigger(triggerName, trigger, `${path}.triggers.${triggerName}`, context);
  const rules = optionalRecord(definition['rules'], `${path}.rules`, problems);
  for (const [ruleName, rule] of Object.entries(rules)) {
    decodeRule(ruleName, rule, `${path}.rules.${ruleName}`, { packageName: name, actions: Object.keys(actions), triggers: Object.keys(triggers) }, context);
  }
}

function decodeAction(packageName: string, name: string, definition: unknown, context: Context): void {
  const path = `packages.${packageName}.actions.${name}`;
  const { problems, env } = context;
  if (!NAME.test(name) || name.includes(' ')) problems.push(`${path}: is not a valid OpenWhisk name`);
  if (!isRecord(definition)) {
    problems.push(`${path}: must be a mapping`);
    return;
  }
  rejectUnknown(definition, ACTION_FIELDS, path, problems);
  const file = definition['function'];
  if (typeof file !== 'string' || file === '') problems.push(`${path}.function: must be the path of the action's code file or folder`);
  const runtime = definition['runtime'];
  if (typeof runtime !== 'string' || !/^nodejs:\d+$/.test(runtime)) problems.push(`${path}.runtime: must be a Node.js kind such as nodejs:20`);
  const main = definition['main'] ?? 'main';
  // The runtime evaluates `main` inside the plain code's wrapper (`return ${main}`): only a
  // name, never an expression.
  if (typeof main !== 'string' || !/^[A-Za-z_$][\w$]*$/.test(main)) problems.push(`${path}.main: must be a function name`);

  const annotations: Record<string, unknown> = { ...webAnnotations(definition['web'] ?? definition['web-export'] ?? false, `${path}.web`, problems) };
  for (const [key, value] of Object.entries(optionalRecord(definition['annotations'], `${path}.annotations`, problems))) {
    const resolved = substituteEnv(value, env);
    if (resolved.missing.length > 0) problems.push(`${path}.annotations.${key}: environment variable ${resolved.missing.join(', ')} is not set`);
    annotations[key] = resolved.value;
  }
  // A web action is reachable by anyone who knows its URL unless OpenWhisk checks a credential
  // first: every web action must require the namespace's key or a secret header value.
  if (annotations['web-export'] === true && !isWhiskAuthRequired(annotations['require-whisk-auth'])) {
    problems.push(`${path}.annotations.require-whisk-auth: a web action must require authentication (true or a secret value)`);
  }
  const limits = decodeLimits(definition['limits'], `${path}.limits`, problems);
  const parameters = decodeInputs(definition['inputs'], `${path}.inputs`, env, problems);
  if (typeof file !== 'string' || typeof runtime !== 'string' || typeof main !== 'string') return;
  context.plan.actions.push({
    name: `${packageName}/${name}`,
    codeFile: isAbsolute(file) ? file : resolve(context.baseDir, file),
    kind: runtime,
    main,
    annotations,
    limits,
    parameters,
  });
}

// wskdeploy's `web` flag as the annotations OpenWhisk reads: `final` keeps callers from
// overriding the action's own parameters.
function webAnnotations(web: unknown, path: string, problems: Problems): Record<string, unknown> {
  if (web === true || web === 'yes' || web === 'true') return { 'web-export': true, 'raw-http': false, final: true };
  if (web === 'raw') return { 'web-export': true, 'raw-http': true, final: true };
  if (web === false || web === 'no' || web === 'false') return { 'web-export': false };
  problems.push(`${path}: must be true, false or raw`);
  return {};
}

function isWhiskAuthRequired(value: unknown): boolean {
  return value === true || (typeof value === 'string' && value !== '') || (typeof value === 'number' && Number.isInteger(value) && value > 0);
}

function decodeLimits(value: unknown, path: string, problems: Problems): ActionPlan['limits'] {
  const limits: { timeout?: number; memory?: number; logs?: number } = {};
  for (const [key, limit] of Object.entries(optionalRecord(value, path, problems))) {
    if (!Object.hasOwn(LIMITS, key)) {
      problems.push(`${path}.${key}: is not supported (timeout, memorySize, logSize)`);
    } else if (typeof limit !== 'number' || !Number.isInteger(limit) || limit <= 0) {
      problems.push(`${path}.${key}: must be a positive integer`);
    } else {
      limits[LIMITS[key as keyof typeof LIMITS]] = limit;
    }
  }
  return limits;
}

// Inputs in both wskdeploy grammars: `KEY: value` and `KEY: {type, value, required, default}`.
// An input whose variables are unset is left out, unless it is required (then it is an error).
function decodeInputs(value: unknown, path: string, env: Env, problems: Problems): { key: string; value: unknown }[] {
  const parameters: { key: string; value: unknown }[] = [];
  for (const [key, input] of Object.entries(optionalRecord(value, path, problems))) {
    const typed = isRecord(input) && Object.keys(input).length > 0 && Object.keys(input).every((field) => TYPED_INPUT_FIELDS.has(field));
    const raw = typed ? input['value'] : input;
    const required = typed && input['required'] === true;
    const resolved = substituteEnv(raw, env);
    const unset = resolved.missing.length > 0 || raw === undefined || resolved.value === '';
    if (!unset) parameters.push({ key, value: resolved.value });
    else if (typed && input['default'] !== undefined) parameters.push({ key, value: input['default'] });
    else if (required) problems.push(`${path}.${key}: is required: set ${resolved.missing.join(', ') || 'a value'}`);
  }
  return parameters;
}

function decodeTrigger(name: string, definition: unknown, path: string, context: Context): void {
  const { problems, env } = context;
  if (!NAME.test(name) || name.includes(' ')) problems.push(`${path}: is not a valid OpenWhisk name`);
  const trigger = definition ?? {};
  if (!isRecord(trigger)) {
    problems.push(`${path}: must be a mapping`);
    return;
  }
  rejectUnknown(trigger, TRIGGER_FIELDS, path, problems);
  const feed = trigger['feed'];
  const inputs = optionalRecord(trigger['inputs'], `${path}.inputs`, problems);
  if (feed === undefined) {
    if (Object.keys(inputs).length > 0) problems.push(`${path}.inputs: only a trigger with a feed takes inputs`);
    context.plan.triggers.push({ name });
    return;
  }
  if (typeof feed !== 'string' || !/^\/[^/]+\/[^/]+\/[^/]+$/.test(feed)) {
    problems.push(`${path}.feed: must be a fully qualified feed action such as /whisk.system/alarms/alarm`);
    return;
  }
  const params: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(inputs)) {
    const resolved = substituteEnv(value, env);
    if (resolved.missing.length > 0) problems.push(`${path}.inputs.${key}: environment variable ${resolved.missing.join(', ')} is not set`);
    params[key] = resolved.value;
  }
  context.plan.triggers.push({ name, feed: { action: feed, params } });
}

function decodeRule(
  name: string,
  definition: unknown,
  path: string,
  declared: { readonly packageName: string; readonly actions: readonly string[]; readonly triggers: readonly string[] },
  context: Context,
): void {
  const { problems } = context;
  if (!NAME.test(name) || name.includes(' ')) problems.push(`${path}: is not a valid OpenWhisk name`);
  if (!isRecord(definition)) {
    problems.push(`${path}: must be a mapping`);
    return;
  }
  rejectUnknown(definition, RULE_FIELDS, path, problems);
  const { trigger, action } = definition;
  if (typeof trigger !== 'string' || !declared.triggers.includes(trigger)) problems.push(`${path}.trigger: must name a trigger of this package`);
  if (typeof action !== 'string' || !declared.actions.includes(action)) problems.push(`${path}.action: must name an action of this package`);
  if (typeof trigger === 'string' && typeof action === 'string') {
    context.plan.rules.push({ name, trigger, action: `${declared.packageName}/${action}` });
  }
}

function rejectUnknown(value: Record<string, unknown>, known: ReadonlySet<string>, path: string, problems: Problems, hint?: string): void {
  for (const key of Object.keys(value)) {
    if (!known.has(key)) problems.push(`${path}.${key}: is not supported${key === 'inputs' && hint !== undefined ? ` (${hint})` : ''}`);
  }
}

function optionalRecord(value: unknown, path: string, problems: Problems): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (isRecord(value)) return value;
  problems.push(`${path}: must be a mapping`);
  return {};
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
