import type { LogFields, Logger } from '../ports.js';

// One JSON object per line: what log pipelines (CloudWatch, OpenWhisk activations,
// kubectl logs) index best. The sink is injected so the core never writes to a stream.
export function createJsonLogger(sink: (line: string) => void, base: LogFields = {}): Logger {
  const write = (level: string, message: string, fields: LogFields = {}): void => {
    sink(JSON.stringify({ time: new Date().toISOString(), level, message, ...base, ...fields }));
  };
  return {
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
  };
}
