// `trustgate deploy openwhisk` against a loopback server speaking the OpenWhisk REST API for
// the calls it makes: the exact requests (method, path, Basic auth, bodies) are the contract,
// since no real OpenWhisk can run here. The manifest is the project's own manifest.yaml.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { mkdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runDeploy } from '../../../cli/commands/deploy-openwhisk.js';
import type { CliIo } from '../../../cli/io.js';
import { findClosedPort, startLocalServer, type LocalServer } from '../../support/local-http-server.js';
import { makeTempDir, removeDir } from '../../integration/support/temp-dir.js';
import { systemClock } from '../../../infra/clock/system-clock.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const AUTH = '23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP';
const ACTIONS = ['verify-image', 'policy-lookup', 'sign-callback'];
const DEPLOY_ENV = {
  TRUSTGATE_STATE_KEY: 'state-key-value',
  TRUSTGATE_CALLBACK_TOKEN: 'callback-token-value',
  TRUSTGATE_DYNAMODB_TABLE: 'trustgate-state',
  AWS_REGION: 'eu-west-1',
};

interface Call {
  readonly method: string;
  readonly url: string;
  readonly authorization: string | undefined;
  readonly body: Record<string, unknown> | undefined;
}

// The fake OpenWhisk: records each call with its JSON body; `answer` may override a reply.
function createOpenWhisk(answer: (call: Call) => { status: number; body: unknown } | undefined = () => undefined) {
  const calls: Call[] = [];
  const handler = (request: IncomingMessage, response: ServerResponse): void => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const call: Call = {
        method: request.method ?? '',
        url: request.url ?? '',
        authorization: request.headers.authorization,
        body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>),
      };
      calls.push(call);
      const reply = answer(call) ?? defaultReply(call);
      response.writeHead(reply.status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(reply.body));
    });
  };
  return { calls, handler };
}

function defaultReply(call: Call): { status: number; body: unknown } {
  if (call.method === 'GET' && call.url.includes('/triggers/')) {
    return { status: 404, body: { error: 'The requested resource does not exist.', code: 'x1' } };
  }
  if (call.method === 'POST') return { status: 200, body: { activationId: 'a1', response: { success: true, result: {} } } };
  return { status: 200, body: { name: 'entity', ...call.body } };
}

function createIo(env: Record<string, string | undefined>): CliIo & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    env,
    clock: systemClock,
    stdout: (text: string) => {
      io.out += text;
    },
    stderr: (text: string) => {
      io.err += text;
    },
  };
  return io;
}

let work: string;
let manifest: string;
let server: LocalServer | undefined;

beforeAll(() => {
  for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'PROXY', 'proxy', '__OW_NAMESPACE', '__OW_API_KEY']) delete process.env[name];
});

// A stand-in action file where the build puts each action's: plain code declaring `main`.
const standInCode = (name: string): string => `const main = async () => ({ action: '${name}', text: "non-ASCII \u00e9 and \\"quotes\\"" });\n`;
const actionFile = (name: string): string => join(work, 'dist/functions', name, 'openwhisk.js');

// A copy of the project's manifest beside stand-in action folders, so the requests carry
// known code.
beforeEach(async () => {
  work = await makeTempDir('deploy-ow');
  manifest = join(work, 'manifest.yaml');
  await writeFile(manifest, await readFile(join(ROOT, 'manifest.yaml')));
  for (const name of ACTIONS) {
    await mkdir(dirname(actionFile(name)), { recursive: true });
    await writeFile(actionFile(name), standInCode(name));
  }
});

afterEach(async () => {
  await server?.close();
  server = undefined;
  await removeDir(work);
});

async function deployWith(
  answer?: (call: Call) => { status: number; body: unknown } | undefined,
  env: Record<string, string | undefined> = {},
): Promise<{ code: number; io: ReturnType<typeof createIo>; calls: Call[] }> {
  const fake = createOpenWhisk(answer);
  server = await startLocalServer(fake.handler);
  const io = createIo({ HOME: work, OW_APIHOST: server.url, OW_AUTH: AUTH, ...DEPLOY_ENV, ...env });
  const code = await runDeploy(['openwhisk', '--manifest', manifest], io);
  return { code, io, calls: fake.calls };
}

const route = (call: Call): string => `${call.method} ${call.url}`;

describe('runDeploy openwhisk', () => {
  describe('when every call succeeds', () => {
    it('makes exactly the package, action, trigger, feed and rule requests in order, and exits 0', async () => {
      const { code, calls, io } = await deployWith();
      expect(io.err).toBe('');
      expect(code).toBe(0);
      expect(calls.map(route)).toEqual([
        'PUT /api/v1/namespaces/_/packages/trustgate?overwrite=true',
        'PUT /api/v1/namespaces/_/actions/trustgate/verify-image?overwrite=true',
        'PUT /api/v1/namespaces/_/actions/trustgate/policy-lookup?overwrite=true',
        'PUT /api/v1/namespaces/_/actions/trustgate/sign-callback?overwrite=true',
        'PUT /api/v1/namespaces/_/triggers/registry-push?overwrite=true',
        'GET /api/v1/namespaces/_/triggers/changefeed-poll',
        'PUT /api/v1/namespaces/_/triggers/changefeed-poll?overwrite=true',
        'POST /api/v1/namespaces/whisk.system/actions/alarms/alarm?blocking=true',
        'PUT /api/v1/namespaces/_/rules/registry-push-to-sign-callback?overwrite=true',
        'PUT /api/v1/namespaces/_/rules/changefeed-poll-to-sign-callback?overwrite=true',
      ]);
    });

    it('authenticates every request with Basic OW_AUTH', async () => {
      const { calls } = await deployWith();
      const expected = `Basic ${Buffer.from(AUTH).toString('base64')}`;
      expect(calls.every((call) => call.authorization === expected)).toBe(true);
    });

    it('sends each action as a nodejs:20 plain-code web action requiring whisk auth, with its limits', async () => {
      const { calls } = await deployWith();
      const action = calls.find((call) => call.url.includes('/actions/trustgate/verify-image'));
      expect(action?.body).toMatchObject({
        exec: { kind: 'nodejs:20', binary: false, main: 'main' },
        limits: { timeout: 30000, memory: 512, logs: 10 },
      });
      expect(Object.keys(action?.body?.['exec'] as object).sort()).toEqual(['binary', 'code', 'kind', 'main']);
      expect(action?.body?.['annotations']).toEqual(
        expect.arrayContaining([
          { key: 'web-export', value: true },
          { key: 'raw-http', value: false },
          { key: 'final', value: true },
          { key: 'require-whisk-auth', value: true },
        ]),
      );
    });

    it.each(ACTIONS)('sends %s as the text of its built file, unchanged', async (name) => {
      const { calls } = await deployWith();
      const action = calls.find((call) => call.url.endsWith(`/actions/trustgate/${name}?overwrite=true`));
      expect((action?.body?.['exec'] as { code: string }).code).toBe(standInCode(name));
    });

    it('sends inputs as init-time parameters from the environment and leaves unset ones out', async () => {
      const { calls } = await deployWith();
      const verify = calls.find((call) => call.url.includes('/actions/trustgate/verify-image'));
      expect(verify?.body?.['parameters']).toEqual([
        { key: 'TRUSTGATE_STATE_KEY', value: 'state-key-value', init: true },
        { key: 'TRUSTGATE_DYNAMODB_TABLE', value: 'trustgate-state', init: true },
        { key: 'AWS_REGION', value: 'eu-west-1', init: true },
      ]);
      const sign = calls.find((call) => call.url.includes('/actions/trustgate/sign-callback'));
      expect(sign?.body?.['parameters']).toContainEqual({ key: 'TRUSTGATE_CALLBACK_TOKEN', value: 'callback-token-value', init: true });
      const lookup = calls.find((call) => call.url.includes('/actions/trustgate/policy-lookup'));
      expect(lookup?.body?.['parameters']).toEqual([]);
    });

    it('registers the alarm feed every minute with the poll payload for the changefeed trigger', async () => {
      const { calls } = await deployWith();
      const trigger = calls.find((call) => call.method === 'PUT' && call.url.includes('/triggers/changefeed-poll'));
      expect(trigger?.body).toEqual({ annotations: [{ key: 'feed', value: '/whisk.system/alarms/alarm' }] });
      const feed = calls.find((call) => call.url.includes('/alarms/alarm'));
      expect(feed?.body).toEqual({
        lifecycleEvent: 'CREATE',
        authKey: AUTH,
        triggerName: '/_/changefeed-poll',
        cron: '* * * * *',
        trigger_payload: { poll: true },
      });
    });

    it('binds both triggers to sign-callback with fully qualified names', async () => {
      const { calls } = await deployWith();
      const rules = calls.filter((call) => call.url.includes('/rules/')).map((call) => call.body);
      expect(rules).toEqual([
        { trigger: '/_/registry-push', action: '/_/trustgate/sign-callback' },
        { trigger: '/_/changefeed-poll', action: '/_/trustgate/sign-callback' },
      ]);
    });
  });

  describe('when the alarm trigger already exists with its feed', () => {
    it('removes the previous feed registration before registering it again', async () => {
      const { code, calls } = await deployWith((call) =>
        call.method === 'GET' ? { status: 200, body: { name: 'changefeed-poll', annotations: [{ key: 'feed', value: '/whisk.system/alarms/alarm' }] } } : undefined,
      );
      expect(code).toBe(0);
      const lifecycle = calls.filter((call) => call.url.includes('/alarms/alarm')).map((call) => call.body?.['lifecycleEvent']);
      expect(lifecycle).toEqual(['DELETE', 'CREATE']);
    });
  });

  describe('when OW_NAMESPACE names a namespace', () => {
    it('addresses every entity in that namespace', async () => {
      const { calls } = await deployWith(undefined, { OW_NAMESPACE: 'team-a' });
      const own = calls.filter((call) => !call.url.includes('whisk.system'));
      expect(own.every((call) => call.url.startsWith('/api/v1/namespaces/team-a/'))).toBe(true);
      expect(calls.find((call) => call.url.includes('/rules/'))?.body).toEqual({ trigger: '/team-a/registry-push', action: '/team-a/trustgate/sign-callback' });
    });
  });

  describe('when the credentials come from ~/.wskprops', () => {
    it('reads APIHOST and AUTH from the file', async () => {
      const fake = createOpenWhisk();
      server = await startLocalServer(fake.handler);
      await writeFile(join(work, '.wskprops'), `APIHOST=${server.url}\nAUTH=${AUTH}\n`);
      const io = createIo({ HOME: work, ...DEPLOY_ENV });
      expect(await runDeploy(['openwhisk', '--manifest', manifest], io)).toBe(0);
      expect(fake.calls[0]?.authorization).toBe(`Basic ${Buffer.from(AUTH).toString('base64')}`);
    });
  });

  describe('when the API refuses an action', () => {
    it('exits 1 naming the action, stops, and never prints the auth key', async () => {
      const { code, io, calls } = await deployWith((call) =>
        call.url.includes('/actions/trustgate/verify-image') ? { status: 401, body: { error: `bad key ${AUTH}`, code: 'x2' } } : undefined,
      );
      expect(code).toBe(1);
      expect(io.err).toContain('action trustgate/verify-image');
      expect(io.err).toContain('401');
      for (const secret of [AUTH, ...AUTH.split(':'), Buffer.from(AUTH).toString('base64')]) expect(io.err).not.toContain(secret);
      expect(calls.some((call) => call.url.includes('/rules/'))).toBe(false);
    });
  });

  describe('when OpenWhisk cannot be reached', () => {
    it('exits 1 naming the first entity', async () => {
      const port = await findClosedPort();
      const io = createIo({ HOME: work, OW_APIHOST: `http://127.0.0.1:${port}`, OW_AUTH: AUTH, ...DEPLOY_ENV });
      expect(await runDeploy(['openwhisk', '--manifest', manifest], io)).toBe(1);
      expect(io.err).toContain('package trustgate');
    });
  });

  describe('when the configuration is unusable', () => {
    it('exits 2 without a request when a bundle is missing, telling the user to build', async () => {
      await rm(actionFile('sign-callback'));
      const { code, io, calls } = await deployWith();
      expect(code).toBe(2);
      expect(io.err).toContain('npm run build');
      expect(io.err).toContain('trustgate/sign-callback');
      expect(calls).toEqual([]);
    });

    it('exits 2 without a request when an action\'s function is a folder rather than one file', async () => {
      await rm(actionFile('verify-image'));
      await mkdir(actionFile('verify-image'));
      const { code, io, calls } = await deployWith();
      expect(code).toBe(2);
      expect(io.err).toContain('dist/functions/verify-image/openwhisk.js');
      expect(calls).toEqual([]);
    });

    it('exits 2 without a request when an action is larger than OpenWhisk takes', async () => {
      await truncate(actionFile('policy-lookup'), 48 * 1024 * 1024 + 1);
      const { code, io, calls } = await deployWith();
      expect(code).toBe(2);
      expect(io.err).toContain('dist/functions/policy-lookup/openwhisk.js');
      expect(calls).toEqual([]);
    });

    it('exits 2 without a request when an action\'s function is a symbolic link, which would upload what it points to', async () => {
      const secret = join(work, 'credentials');
      await writeFile(secret, 'AUTH=not-code\n');
      await rm(actionFile('verify-image'));
      await symlink(secret, actionFile('verify-image'));
      const { code, io, calls } = await deployWith();
      expect(code).toBe(2);
      expect(io.err).toContain('dist/functions/verify-image/openwhisk.js');
      expect(calls).toEqual([]);
    });

    it('exits 2 without a request when an action\'s main is an expression rather than a function name', async () => {
      const text = await readFile(manifest, 'utf8');
      const at = text.indexOf('main: main', text.indexOf('dist/functions/verify-image/openwhisk.js'));
      await writeFile(manifest, `${text.slice(0, at)}main: "main, (globalThis.injected = 'yes'), main"${text.slice(at + 'main: main'.length)}`);
      const { code, io, calls } = await deployWith();
      expect(code).toBe(2);
      expect(io.err).toContain('verify-image.main');
      expect(calls).toEqual([]);
    });

    it('exits 2 without a request when a required secret is not set', async () => {
      const { code, io, calls } = await deployWith(undefined, { TRUSTGATE_STATE_KEY: undefined });
      expect(code).toBe(2);
      expect(io.err).toContain('TRUSTGATE_STATE_KEY');
      expect(calls).toEqual([]);
    });

    it('exits 2 when there are no credentials', async () => {
      const io = createIo({ HOME: work, ...DEPLOY_ENV });
      expect(await runDeploy(['openwhisk', '--manifest', manifest], io)).toBe(2);
      expect(io.err).toContain('OW_AUTH');
    });

    it('exits 2 when the manifest does not exist', async () => {
      const io = createIo({ HOME: work, OW_APIHOST: 'http://127.0.0.1:1', OW_AUTH: AUTH, ...DEPLOY_ENV });
      expect(await runDeploy(['openwhisk', '--manifest', join(work, 'missing.yaml')], io)).toBe(2);
    });

    it('exits 2 when a web action does not require authentication', async () => {
      const text = await readFile(manifest, 'utf8');
      await writeFile(manifest, text.replace('require-whisk-auth: true', 'require-whisk-auth: false'));
      const { code, io, calls } = await deployWith();
      expect(code).toBe(2);
      expect(io.err).toContain('verify-image.annotations.require-whisk-auth');
      expect(calls).toEqual([]);
    });

    it('exits 2 listing every unsupported manifest field', async () => {
      await writeFile(manifest, 'packages:\n  trustgate:\n    inputs: {A: b}\n    actions:\n      a:\n        function: x.cjs\n        runtime: python:3\n');
      const { code, io } = await deployWith();
      expect(code).toBe(2);
      expect(io.err).toContain('packages.trustgate.inputs');
      expect(io.err).toContain('packages.trustgate.actions.a.runtime');
    });
  });

  describe('when the arguments are wrong', () => {
    it.each([[[]], [['aws']], [['openwhisk', 'extra']], [['openwhisk', '--bogus']]])('exits 2 for %j', async (args) => {
      const io = createIo({});
      expect(await runDeploy(args, io)).toBe(2);
      expect(io.err).toContain('usage: trustgate deploy openwhisk');
    });
  });
});
