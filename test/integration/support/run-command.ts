// Runs a program with an argument array (never through a shell) and collects its output.
import { spawn } from 'node:child_process';

export interface CommandResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CommandOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  // Written to the program's stdin, which is then closed.
  readonly input?: string;
  readonly timeoutMs?: number;
}

// Resolves with the exit code and output whatever the code is; rejects only when the
// program cannot be started or runs past its deadline.
export function runCommand(program: string, args: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, [...args], {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 20_000,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === null) {
        reject(new Error(`${program} ${args.join(' ')} ended by ${signal ?? 'unknown signal'}`));
        return;
      }
      resolve({ exitCode: code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') });
    });
    if (options.input !== undefined && child.stdin !== null) {
      // A program may exit before reading its input; that is its answer, not ours to report.
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input);
    }
  });
}

// Like runCommand, but a non-zero exit is an error carrying the program's output.
export async function runCommandOrThrow(program: string, args: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  const result = await runCommand(program, args, options);
  if (result.exitCode !== 0) {
    throw new Error(`${program} ${args.join(' ')} exited ${result.exitCode}: ${result.stderr.trim() || result.stdout.trim()}`);
  }
  return result;
}
