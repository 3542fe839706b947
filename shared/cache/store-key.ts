// Maps a KvStore key (any JavaScript string) to a string every backend can hold as its
// primary key. SQLite and DynamoDB store keys as UTF-8, which cannot represent an unpaired
// surrogate (it would be folded into U+FFFD and two keys would collide), and DynamoDB
// refuses an empty key. Such keys are escaped; everything else is kept as is, so a table
// stays readable by an operator.

// Starts every escaped key. A well-formed key that happens to start with it is escaped too,
// which keeps the mapping one-to-one.
const ESCAPE_PREFIX = '\u0000~';
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

// One-to-one: escaped keys all start with ESCAPE_PREFIX and plain ones never do, and
// JSON.stringify (well-formed since ES2019) writes lone surrogates as \uXXXX escapes.
export function encodeStoreKey(key: string): string {
  const needsEscape = key === '' || key.startsWith(ESCAPE_PREFIX) || LONE_SURROGATE.test(key);
  return needsEscape ? `${ESCAPE_PREFIX}${JSON.stringify(key)}` : key;
}
