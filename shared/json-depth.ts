/**
 * How deep JSON read from the store (or a spec file) may nest, each object or array being one level. An app's
 * intent needs 3 (the spec, `versions`, a version), 4 inside a signed envelope; reality and deployment records
 * a few more. JSON.parse itself takes any depth, but what walks the result recursively (JSON.stringify, stableJson,
 * a template string of an array) runs out of stack near 10,000 levels, with an error that names nothing; a value
 * deeper than this limit is refused before it is parsed, naming the key that holds it.
 */
export const JSON_DEPTH_LIMIT = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/**
 * Why `text` nests deeper than `limit`, or undefined: one pass over it counting brackets outside strings, without
 * parsing it. For text that JSON.parse accepts the count is exactly the parsed value's depth; text it refuses may
 * count wrong, but is refused anyway.
 */
export function jsonDepthProblem(text: string, limit = JSON_DEPTH_LIMIT): string | undefined {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) i = stringEnd(text, i);
    else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > limit) return `JSON nested deeper than the limit of ${limit} levels (level ${depth} opens at offset ${i})`;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) depth--;
  }
  return undefined;
}

/** The offset of the quote closing the string opened at `open` (the text's end when none does). */
function stringEnd(text: string, open: number): number {
  for (let at = text.indexOf('"', open + 1); at !== -1; at = text.indexOf('"', at + 1)) {
    // A quote is escaped when an odd number of backslashes stands right before it.
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
  return text.length;
}

/** JSON.parse, refusing text nested deeper than JSON_DEPTH_LIMIT first (a SyntaxError-like Error saying so). */
export function parseJson(text: string): unknown {
  const problem = jsonDepthProblem(text);
  if (problem) throw new Error(problem);
  return JSON.parse(text);
}
