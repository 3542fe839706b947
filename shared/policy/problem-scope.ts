import type { ErrorCode, FieldProblem } from '../errors.js';

// Collects decoding problems with their full location: `<source>:<document number>: <field path>`.
// Decoders write every bad field into one scope, so a user sees all of them in a single run.
export class ProblemScope {
  private constructor(
    private readonly location: string,
    private readonly prefix: string,
    private readonly out: FieldProblem[],
  ) {}

  // A scope for document `number` (counted from 1, as the stream is written) of `source`.
  static forDocument(source: string, number: number, out: FieldProblem[]): ProblemScope {
    return new ProblemScope(`${source}:${number}`, '', out);
  }

  // Problems that are not about one document, such as a file that cannot be parsed at all.
  static forSource(source: string, out: FieldProblem[]): ProblemScope {
    return new ProblemScope(source, '', out);
  }

  // `field` is relative to this scope: 'kind', 'metadata.name', '[2]'; '' means the scope itself.
  // `code` marks a valid field asking for something not supported (POLICY_UNSUPPORTED).
  add(field: string, message: string, code?: ErrorCode): void {
    const path = joinField(this.prefix, field);
    this.out.push({ path: path === '' ? this.location : `${this.location}: ${path}`, message, ...(code === undefined ? {} : { code }) });
  }

  child(field: string): ProblemScope {
    return new ProblemScope(this.location, joinField(this.prefix, field), this.out);
  }

  // How many problems have been recorded so far in the whole decoding run; decoders compare
  // counts before and after a field to know whether it was valid.
  count(): number {
    return this.out.length;
  }

  // Where this scope points, for messages that refer back to another document.
  describe(): string {
    return this.prefix === '' ? this.location : `${this.location}: ${this.prefix}`;
  }
}

function joinField(prefix: string, field: string): string {
  if (prefix === '') return field;
  if (field === '') return prefix;
  return field.startsWith('[') ? `${prefix}${field}` : `${prefix}.${field}`;
}
