// The part of better-sqlite3's API the SQLite store uses (the package ships no types).
declare module 'better-sqlite3' {
  interface RunResult {
    readonly changes: number;
  }
  interface Statement<Row> {
    run(...params: unknown[]): RunResult;
    get(...params: unknown[]): Row | undefined;
    all(...params: unknown[]): Row[];
  }
  interface DatabaseOptions {
    readonly timeout?: number;
  }
  class Database {
    constructor(filename: string, options?: DatabaseOptions);
    prepare<Row = unknown>(sql: string): Statement<Row>;
    pragma(source: string, options?: { simple?: boolean }): unknown;
    exec(sql: string): this;
    close(): this;
  }
  export default Database;
}
