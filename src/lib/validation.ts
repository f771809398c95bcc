import type { z } from 'zod';
import { InvalidRequestError } from '../domain/errors.ts';

/** Parses with a zod schema; the first issue becomes a 400 naming the parameter. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, prefix?: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = [prefix, ...(issue?.path ?? []).map(String)].filter(Boolean).join('.');
  throw new InvalidRequestError(
    path ? `Invalid parameter '${path}': ${issue?.message}` : `Invalid request: ${issue?.message}`,
    path || undefined,
    { issues: r.error.issues.slice(0, 10).map((i) => ({ path: [prefix, ...i.path.map(String)].filter(Boolean).join('.'), message: i.message })) },
  );
}
