// Runs `trustgate serve` from the built CLI as a child process on a free port, with the
// test CA trusted for outgoing calls, and talks HTTPS to it trusting the CA it generated.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { objectOfKind, podSpec, reviewFor } from '../../support/admission-reviews.js';
import { cliHomeEnvironment } from './cli-home.js';
import { TRUSTGATE_BIN } from './trustgate-cli.js';

export interface ServeProcess {
  readonly url: string;
  // PEM of the CA serve generated (what a cluster puts into caBundle).
  readonly caPem: string;
  // The serve process's id (the soak script reads its peak RSS).
  readonly pid: number;
  // Everything the process printed on stdout so far (the JSON decision log included).
  output(): string;
  // Sends a signal (SIGHUP: re-read the policies).
  signal(name: NodeJS.Signals): void;
  // Sends SIGTERM and resolves with the exit code.
  stop(): Promise<number | null>;
  // Resolves with the exit code once the process has ended (after a signal sent with `signal`).
  readonly exited: Promise<number | null>;
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly text: string;
}

const STARTUP_TIMEOUT_MS = 15_000;

export interface ServeStartOptions {
  // Given as --policies; absent when extraArgs name another source (--policies-from-cluster).
  readonly policiesDir?: string;
  readonly stateDir: string;
  // CA serve trusts for its outgoing calls (NODE_EXTRA_CA_CERTS).
  readonly caFile: string;
  // Listening port (default 0: any free port).
  readonly port?: number;
  // A certificate to serve instead of one from serve's own CA; `caFile` is the CA that signed it.
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string };
  // Extra environment, e.g. TRUSTGATE_CALLBACK_TOKEN.
  readonly env?: Readonly<Record<string, string>>;
  readonly extraArgs?: readonly string[];
  // Write serve's output straight into this file instead of a pipe to this process (the
  // benchmark: reading a decision line per request would cost the process driving the load).
  readonly outputFile?: string;
  // Options for node itself, before the CLI (the benchmark's --cpu-prof).
  readonly nodeArgs?: readonly string[];
}

export async function startTrustgateServe(options: ServeStartOptions): Promise<ServeProcess> {
  const tlsArgs = options.tls === undefined ? [] : ['--tls-cert', options.tls.certFile, '--tls-key', options.tls.keyFile];
  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), TRUSTGATE_BIN, 'serve', ...(options.policiesDir === undefined ? [] : ['--policies', options.policiesDir]), '--state-dir', options.stateDir, '--port', String(options.port ?? 0), ...tlsArgs, ...(options.extraArgs ?? [])],
    {
      env: { PATH: process.env['PATH'], ...cliHomeEnvironment(), NODE_EXTRA_CA_CERTS: options.caFile, ...options.env },
      stdio: ['ignore', options.outputFile === undefined ? 'pipe' : openSync(options.outputFile, 'w'), 'pipe'],
    },
  );
  let piped = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (piped += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const outputFile = options.outputFile;
  const stdout = (): string => (outputFile === undefined ? piped : readFileSync(outputFile, 'utf8'));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const url = await waitForListening(child, stdout, () => stderr);
    const caFile = options.tls?.caFile ?? /webhook CA certificate (?:written to|kept at) (\S+)/.exec(stdout())?.[1];
    if (caFile === undefined) throw new Error(`serve did not say where its CA is:\n${stdout()}`);
    return {
      url,
      caPem: await readFile(caFile, 'utf8'),
      pid: child.pid ?? 0,
      output: stdout,
      signal: (name) => {
        child.kill(name);
      },
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        return exited;
      },
      exited,
    };
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    throw error;
  }
}

function waitForListening(child: ChildProcess, stdout: () => string, stderr: () => string): Promise<string> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    // Only while starting: a serve that ran long (the benchmark's) may leave more output than
    // one string can hold, which this would read at its exit.
    const exitedEarly = (code: number | null): void => {
      clearInterval(poll);
      reject(new Error(`serve exited ${code} during startup:\n${stdout()}\n${stderr()}`));
    };
    const poll = setInterval(() => {
      const url = /listening on (https:\/\/\S+)/.exec(stdout())?.[1];
      if (url !== undefined) {
        clearInterval(poll);
        child.off('exit', exitedEarly);
        resolve(url);
      } else if (Date.now() > deadline) {
        clearInterval(poll);
        reject(new Error(`serve not listening after ${STARTUP_TIMEOUT_MS} ms:\n${stdout()}\n${stderr()}`));
      }
    }, 20);
    child.on('exit', exitedEarly);
  });
}

// One HTTPS exchange trusting only `caPem`.
export function httpsRequest(
  url: string,
  caPem: string,
  init: { method?: string; body?: string | Buffer; headers?: Readonly<Record<string, string>> } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/json', ...init.headers };
    const outgoing = request(url, { method: init.method ?? 'GET', ca: caPem, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    outgoing.on('error', reject);
    outgoing.end(init.body);
  });
}

export interface PodAdmissionAnswer {
  readonly response: { readonly allowed: boolean; readonly status: { readonly code: number; readonly message: string }; readonly patch?: string };
}

// Posts to serve's /admit the review of a Pod with one container running `image`, in
// `namespace`, and answers the AdmissionReview it got back (HTTP 200 expected). `spec` adds
// fields to the pod spec (imagePullSecrets, serviceAccountName).
export async function admitPodImage(serve: ServeProcess, image: string, namespace: string, spec: Readonly<Record<string, unknown>> = {}): Promise<PodAdmissionAnswer> {
  const review = reviewFor('Pod', objectOfKind('Pod', { ...podSpec({ containers: [{ name: 'app', image }] }), ...spec } as Parameters<typeof objectOfKind>[1]), { namespace });
  const answer = await httpsRequest(`${serve.url}/admit`, serve.caPem, { method: 'POST', body: JSON.stringify(review) });
  if (answer.status !== 200) throw new Error(`/admit answered ${answer.status}: ${answer.text}`);
  return JSON.parse(answer.text) as PodAdmissionAnswer;
}
