/**
 * Text PostgreSQL cannot store: the NUL character (refused in `text` and in `jsonb`) and UTF-16
 * surrogates that are not part of a pair (refused in `jsonb`). The API refuses them with a 400
 * naming the parameter; provider webhooks, which we cannot refuse without losing a purchase, are
 * stored with them replaced (see `storableJson`).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is what this finds
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is what this replaces
const UNSTORABLE_G = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Deepest nesting of arrays/objects the API accepts in a JSON body. */
export const MAX_JSON_DEPTH = 64;

export function isStorableText(s: string): boolean {
  return !UNSTORABLE.test(s);
}

export type InputProblem = { kind: 'text'; param: string } | { kind: 'depth'; param: string };

/**
 * The first string (value or key) PostgreSQL cannot store, or the first place nested deeper than
 * `maxDepth`; `param` is the dotted path to it ("metadata.note", "items.0.id").
 */
export function findInputProblem(value: unknown, maxDepth = MAX_JSON_DEPTH, path: string[] = []): InputProblem | undefined {
  if (typeof value === 'string') return isStorableText(value) ? undefined : { kind: 'text', param: path.join('.') };
  if (value === null || typeof value !== 'object') return undefined;
  if (Buffer.isBuffer(value)) return undefined;
  if (path.length >= maxDepth) return { kind: 'depth', param: path.join('.') };
  const entries: [string, unknown][] = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
  for (const [k, v] of entries) {
    if (!isStorableText(k)) return { kind: 'text', param: [...path, k.replace(UNSTORABLE_G, '\uFFFD')].join('.') };
    const found = findInputProblem(v, maxDepth, [...path, k]);
    if (found) return found;
  }
  return undefined;
}

/** A copy of a JSON value PostgreSQL can store: NUL removed, lone surrogates replaced by U+FFFD. */
export function storableJson<T>(value: T): T {
  if (typeof value === 'string') return storableText(value) as T;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => storableJson(v)) as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[storableText(k)] = storableJson(v);
  return out as T;
}

export function storableText(s: string): string {
  return s.replace(UNSTORABLE_G, (m) => (m === '\u0000' ? '' : '\uFFFD'));
}
