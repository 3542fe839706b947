// A log field value that is already JSON text, written into a JSON log line as it is
// instead of being serialised again: what a caller builds once and reuses across lines
// (the admission decision's per-image outcome). Any other logger sees the value it stands
// for (toJSON), so nothing depends on the JSON logger being the one in use.
// Security: the text goes into the line unchanged, so it must come from JSON.stringify or
// from JSON text built of such pieces, never from outside input directly; the constructor
// is only called where that holds.
export class JsonText {
  constructor(readonly json: string) {}

  toJSON(): unknown {
    return JSON.parse(this.json);
  }
}
