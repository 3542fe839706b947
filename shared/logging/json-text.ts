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

// A log line's fields already written as the members of one JSON object (`"a":1,"b":"x"`,
// without the braces), for a line built once per request from pre-serialised parts (the
// admission decision): the JSON logger writes the text as it is, where a record would be
// serialised key by key. Any other logger sees the record it stands for (toJSON).
// Security: as for JsonText, every value in the text must come from JSON.stringify (or be
// a constant written so), never from outside input directly, and the names are constants of
// the caller, none of them the line's own keys (time, level, message), which the JSON
// logger writes first and does not look for in the text; the constructor is only called
// where that holds.
export class JsonFields {
  constructor(readonly members: string) {}

  toJSON(): Record<string, unknown> {
    return JSON.parse(`{${this.members}}`) as Record<string, unknown>;
  }
}
