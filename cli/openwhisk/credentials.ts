// Where `trustgate deploy openwhisk` finds its OpenWhisk API host and key: OW_APIHOST,
// OW_AUTH and OW_NAMESPACE in the environment, each falling back to APIHOST, AUTH and
// NAMESPACE in the wsk CLI's property file (WSK_CONFIG_FILE, default ~/.wskprops).
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../cli-error.js';
import type { Env } from './substitute-env.js';

export interface OpenWhiskCredentials {
  readonly apihost: string;
  readonly auth: string; // "uuid:key": never printed
  readonly namespace?: string;
}

export async function resolveCredentials(env: Env): Promise<OpenWhiskCredentials> {
  const propsFile = nonEmpty(env['WSK_CONFIG_FILE']) ?? join(nonEmpty(env['HOME']) ?? homedir(), '.wskprops');
  const props = await readProperties(propsFile);
  const apihost = nonEmpty(env['OW_APIHOST']) ?? props.get('APIHOST');
  const auth = nonEmpty(env['OW_AUTH']) ?? props.get('AUTH');
  const namespace = nonEmpty(env['OW_NAMESPACE']) ?? props.get('NAMESPACE');
  const missing = [...(apihost === undefined ? ['OW_APIHOST (or APIHOST)'] : []), ...(auth === undefined ? ['OW_AUTH (or AUTH)'] : [])];
  if (apihost === undefined || auth === undefined) {
    throw new ConfigError(`no OpenWhisk credentials: set ${missing.join(' and ')} in the environment or in ${propsFile}`);
  }
  return { apihost, auth, ...(namespace === undefined ? {} : { namespace }) };
}

// `KEY=VALUE` lines; a missing file is an empty one (the environment may hold everything).
async function readProperties(file: string): Promise<Map<string, string>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw new ConfigError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'unknown error'}`);
  }
  const props = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined && match[2] !== '') props.set(match[1], match[2]);
  }
  return props;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
