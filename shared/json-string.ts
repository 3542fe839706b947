// A JSON string inside a JSON text that JSON.parse has already accepted (so its syntax is not
// checked again here): its decoded value and where it ends.

// The string opening with the '"' at `start`: its value, decoded ("tr\u0075st" is "trust"),
// and the index of its closing '"'. A backslash escapes the next character, so '\"' does not
// close it.
export function jsonStringAt(text: string, start: number): { readonly value: string; readonly end: number } {
  let end = start + 1;
  while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
  const raw = text.slice(start + 1, end);
  return { value: raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw, end };
}
