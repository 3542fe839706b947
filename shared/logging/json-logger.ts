import type { Clock, LogFields, Logger } from '../ports.js';
import { JsonFields, JsonText } from './json-text.js';

// The keys every line starts with; fields may not replace them.
const OWN_KEYS = ['time', 'level', 'message'];

// One JSON object per line: what log pipelines (CloudWatch, OpenWhisk activations,
// kubectl logs) index best. The sink is injected so the core never writes to a stream.
// A webhook writes a line per request, so the timestamp is formatted once per millisecond
// and the fields are serialised without first being copied into a new object; fields
// already serialised (JsonFields) are written as they are.
export function createJsonLogger(sink: (line: string) => void, clock: Clock, base: LogFields = {}): Logger {
  const extra = { ...base };
  const hasBase = Object.keys(extra).length > 0;
  let lastMs = Number.NaN;
  let lastTime = '';
  const write = (level: string, message: string, given: LogFields | JsonFields = NO_FIELDS): void => {
    const ms = clock.now().getTime();
    if (ms !== lastMs) {
      lastMs = ms;
      lastTime = new Date(ms).toISOString();
    }
    const head = `{"time":"${lastTime}","level":"${level}","message":${JSON.stringify(message)}`;
    if (given instanceof JsonFields && !hasBase) {
      sink(given.members === '' ? `${head}}` : `${head},${given.members}}`);
      return;
    }
    const fields = given instanceof JsonFields ? given.toJSON() : given;
    const rest = hasBase || OWN_KEYS.some((key) => Object.hasOwn(fields, key)) ? withoutOwnKeys({ ...extra, ...fields }) : fields;
    const body = hasJsonText(rest) ? serialiseMembers(rest) : JSON.stringify(rest);
    sink(body === '{}' ? `${head}}` : `${head},${body.slice(1)}`);
  };
  return {
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
  };
}

const NO_FIELDS: LogFields = Object.freeze({});

// A field named like one of the line's own keys is kept under a prefixed name rather than
// written twice or allowed to overwrite the time, level or message.
function withoutOwnKeys(fields: LogFields): LogFields {
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) copy[OWN_KEYS.includes(key) ? `field.${key}` : key] = value;
  return copy;
}

function hasJsonText(fields: LogFields): boolean {
  for (const key of Object.keys(fields)) if (fields[key] instanceof JsonText) return true;
  return false;
}

// The fields as one JSON object, like JSON.stringify (own enumerable keys in its order,
// members whose value serialises to nothing left out), with JsonText values written as
// they are.
function serialiseMembers(fields: LogFields): string {
  let members = '';
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    const json = value instanceof JsonText ? value.json : (JSON.stringify(value) as string | undefined);
    if (json !== undefined) members += `${members === '' ? '' : ','}${JSON.stringify(key)}:${json}`;
  }
  return `{${members}}`;
}
