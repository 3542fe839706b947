// Applies a deploy plan through the OpenWhisk REST API (the `openwhisk` npm client), in
// dependency order: packages, actions, triggers (re-registering feeds), rules. It stops at
// the first failure and says which entity failed; the API key never appears in a message.
import openwhisk from 'openwhisk';
import { isPlainObject } from '../../shared/json.js';
import type { ActionCode } from './action-code.js';
import type { OpenWhiskCredentials } from './credentials.js';
import type { ActionPlan, DeployPlan, TriggerPlan } from './deploy-plan.js';

// One entity the API refused (or could not be reached for).
export class DeployStepError extends Error {
  override readonly name = 'DeployStepError';
}

type Client = ReturnType<typeof openwhisk>;
type KeyValue = { readonly key: string; readonly value: unknown };

// `code` holds each action's code, read before any request so a missing bundle stops the
// deployment before it starts.
export async function applyDeployPlan(
  plan: DeployPlan,
  code: ReadonlyMap<string, ActionCode>,
  credentials: OpenWhiskCredentials,
  log: (line: string) => void,
): Promise<void> {
  const ow = openwhisk({
    apihost: credentials.apihost,
    api_key: credentials.auth,
    ...(credentials.namespace === undefined ? {} : { namespace: credentials.namespace }),
  });
  for (const name of plan.packages) {
    await step(`package ${name}`, () => ow.packages.update({ name, package: { publish: false } }));
    log(`updated package ${name}`);
  }
  for (const action of plan.actions) {
    const source = code.get(action.name) ?? { code: '', bytes: 0 };
    await step(`action ${action.name}`, () => ow.actions.update({ name: action.name, action: toActionBody(action, source) as never }));
    log(`updated action ${action.name} (${action.kind}, ${(source.bytes / 1024).toFixed(1)} KiB)`);
  }
  for (const trigger of plan.triggers) await applyTrigger(ow, trigger, log);
  for (const rule of plan.rules) {
    await step(`rule ${rule.name}`, () => ow.rules.update({ name: rule.name, trigger: rule.trigger, action: rule.action }));
    log(`updated rule ${rule.name}: ${rule.trigger} -> ${rule.action}`);
  }
}

// The action entity as the API takes it: plain code (`binary: false`), evaluated by the
// runtime at init. Inputs become init-time parameters: OpenWhisk hands them to the runtime's
// /init, which exports them as environment variables.
function toActionBody(action: ActionPlan, source: ActionCode): Record<string, unknown> {
  return {
    exec: { kind: action.kind, code: source.code, binary: false, main: action.main },
    annotations: toKeyValues(action.annotations),
    limits: action.limits,
    parameters: action.parameters.map(({ key, value }) => ({ key, value, init: true })),
  };
}

// A trigger fed by a feed (the alarm) is registered with the feed's provider through the feed
// action. Re-deploying first removes the previous registration, so the provider never holds
// two schedules for one trigger.
async function applyTrigger(ow: Client, trigger: TriggerPlan, log: (line: string) => void): Promise<void> {
  const { name, feed } = trigger;
  if (feed === undefined) {
    await step(`trigger ${name}`, () => ow.triggers.update({ name, trigger: {} }));
    log(`updated trigger ${name}`);
    return;
  }
  const existing = await step(`trigger ${name}`, async (): Promise<unknown> => {
    try {
      return await ow.triggers.get({ name });
    } catch (error) {
      if ((error as { statusCode?: unknown }).statusCode === 404) return undefined;
      throw error;
    }
  });
  const previousFeed = feedAnnotationOf(existing);
  if (typeof previousFeed === 'string') {
    await step(`feed ${previousFeed} of trigger ${name}`, () => ow.feeds.delete({ name: previousFeed, trigger: name }));
    log(`removed feed ${previousFeed} from trigger ${name}`);
  }
  await step(`trigger ${name}`, () => ow.triggers.update({ name, trigger: { annotations: [{ key: 'feed', value: feed.action }] } }));
  log(`updated trigger ${name}`);
  await step(`feed ${feed.action} of trigger ${name}`, () => ow.feeds.create({ name: feed.action, trigger: name, params: { ...feed.params } }));
  log(`created feed ${feed.action} for trigger ${name}`);
}

// The `feed` annotation of a trigger as the API answered it. The answer is decoded rather
// than trusted: the client's Trigger type does not describe annotations.
function feedAnnotationOf(trigger: unknown): unknown {
  const annotations = isPlainObject(trigger) ? trigger['annotations'] : undefined;
  if (!Array.isArray(annotations)) return undefined;
  for (const annotation of annotations as readonly unknown[]) {
    if (isPlainObject(annotation) && annotation['key'] === 'feed') return annotation['value'];
  }
  return undefined;
}

async function step<T>(entity: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw new DeployStepError(`failed to deploy ${entity}: ${describeFailure(error)}`, { cause: error });
  }
}

// The API's own status and error text, without the request options the client attaches
// (they carry the Authorization header).
function describeFailure(error: unknown): string {
  const failure = error as { statusCode?: unknown; error?: unknown; message?: unknown };
  if (typeof failure.statusCode === 'number') {
    const body = failure.error as { error?: unknown } | undefined;
    const detail = typeof body?.error === 'string' ? `: ${body.error.slice(0, 200)}` : '';
    return `HTTP ${failure.statusCode}${detail}`;
  }
  return typeof failure.message === 'string' ? failure.message.split('\n')[0] ?? 'unknown error' : 'unknown error';
}

function toKeyValues(record: Readonly<Record<string, unknown>>): KeyValue[] {
  return Object.entries(record).map(([key, value]) => ({ key, value }));
}
