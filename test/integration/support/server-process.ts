// A real server binary run as a child process for the tests: its output kept as one log,
// and a wait until it answers over HTTP that fails fast, with that log, when it dies.
import { spawn } from 'node:child_process';
import { httpGet } from './http-get.js';

export interface ServerProcess {
  // Everything the process has written to stdout and stderr so far.
  readonly log: () => string;
  readonly isRunning: () => boolean;
  // Sends SIGTERM (if it still runs) and resolves once it has exited.
  readonly stop: () => Promise<void>;
}

export interface ReadyCheck {
  // What the errors call the server, e.g. 'notary-server'.
  readonly name: string;
  // A URL that answers 200 (or one of `readyStatuses`) once the server is ready.
  readonly url: string;
  readonly readyStatuses?: readonly number[];
  // PEM CA to trust for an https `url`.
  readonly caFile?: string | undefined;
  readonly timeoutMs: number;
}

// Starts `command` in `cwd`, collecting its output.
export function spawnServer(command: string, args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): ServerProcess {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  let running = true;
  void exited.then(() => (running = false));
  return {
    log: () => log,
    isRunning: () => running,
    stop: async () => {
      if (running) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

// Polls `check.url` until it answers 200. Throws with the server's log when the process
// exits first or the time runs out; stopping it is left to the caller.
export async function waitUntilReady(server: ServerProcess, check: ReadyCheck): Promise<void> {
  const deadline = Date.now() + check.timeoutMs;
  while (Date.now() < deadline) {
    if (!server.isRunning()) throw new Error(`${check.name} exited during startup:\n${server.log()}`);
    try {
      const response = await httpGet(check.url, check.caFile, 1_000);
      if ((check.readyStatuses ?? [200]).includes(response.status)) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`${check.name} at ${check.url} not ready after ${check.timeoutMs} ms:\n${server.log()}`);
}
