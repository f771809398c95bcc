import type { RouteOptions } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ERROR_STATUS, type ErrorCode } from '../domain/errors.ts';
import type { AuthMode } from './auth.ts';

/**
 * How every operation of the OpenAPI document gets its operationId, tag, summary, default error
 * responses, security and Idempotency-Key header: one `onRoute` hook (`describeRoute`) and one
 * swagger `transform` (`transformRoute`), so a new route is described without extra work.
 * What a route must still say itself: its success reply (`schema.response[200|201]`) and the
 * business errors only it answers (402, 409, 502: `errorResponses('insufficient_credits', ...)`).
 */

const codesByStatus = new Map<number, ErrorCode[]>();
for (const [code, status] of Object.entries(ERROR_STATUS) as [ErrorCode, number][]) {
  codesByStatus.set(status, [...(codesByStatus.get(status) ?? []), code]);
}

/** The error envelope every failure is rendered in (src/http/errors.ts), for the given codes. */
export function errorEnvelope(codes: readonly [ErrorCode, ...ErrorCode[]]) {
  return z
    .object({
      error: z
        .looseObject({
          code: z.enum(codes),
          message: z.string(),
          request_id: z.string(),
          param: z.string().optional(),
        })
        .describe('Extra fields depend on the code: `balance`/`required`/`available` for insufficient_credits, `retry_after` for rate_limited, ...'),
    })
    .describe(`Error envelope; code is one of: ${codes.join(', ')}`);
}

function envelopeFor(status: number) {
  const codes = codesByStatus.get(status);
  if (!codes || codes.length === 0) throw new Error(`No error code answers with status ${status}`);
  return errorEnvelope(codes as [ErrorCode, ...ErrorCode[]]);
}

/** `response` entries for the business errors a route answers (e.g. 402 insufficient_credits, 409 conflict). */
export function errorResponses(...codes: ErrorCode[]): Record<number, z.ZodType> {
  const out: Record<number, ReturnType<typeof errorEnvelope>> = {};
  const byStatus = new Map<number, ErrorCode[]>();
  const all: ErrorCode[] = codes.some((c) => ERROR_STATUS[c] === 409) ? [...new Set<ErrorCode>([...codes, 'idempotency_conflict'])] : codes;
  for (const code of all) byStatus.set(ERROR_STATUS[code], [...(byStatus.get(ERROR_STATUS[code]) ?? []), code]);
  for (const [status, list] of byStatus) out[status] = errorEnvelope(list as [ErrorCode, ...ErrorCode[]]);
  return out;
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function methodsOf(route: RouteOptions): string[] {
  return (Array.isArray(route.method) ? route.method : [route.method]).map((m) => m.toUpperCase());
}

function authOf(route: { url: string; config?: unknown }): AuthMode {
  const auth = (route.config as { auth?: AuthMode } | undefined)?.auth;
  return auth ?? (route.url.startsWith('/v1/') ? 'secret' : 'none');
}

function words(url: string): string[] {
  return url
    .split('/')
    .filter((s) => s && s !== 'v1' && !s.startsWith(':'))
    .flatMap((s) => s.split(/[-_]/));
}

/** `POST /v1/customers/:id/credits/deduct` → `postCustomersCreditsDeduct` (+ `ById` for path params). */
export function operationIdOf(method: string, url: string): string {
  const params = [...url.matchAll(/:([a-z_]+)/gi)].map((m) => m[1] ?? '');
  const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
  const base = [method.toLowerCase(), ...words(url).map(cap)].join('');
  const by = params.length ? `By${params.map((p) => p.split('_').map(cap).join('')).join('And')}` : '';
  return base + by;
}

/** A readable default summary from the method and path; a route may set its own `schema.summary`. */
export function summaryOf(method: string, url: string): string {
  const w = words(url);
  const verb = { GET: 'Get', POST: 'Create', PUT: 'Set', PATCH: 'Update', DELETE: 'Delete' }[method] ?? method;
  return `${verb} ${w.join(' ')}`.trim();
}

function defaultErrors(route: RouteOptions, auth: AuthMode): Record<number, unknown> {
  const out: Record<number, unknown> = { 400: envelopeFor(400) };
  if (auth !== 'none') {
    out[401] = envelopeFor(401);
    out[403] = envelopeFor(403);
    out[429] = envelopeFor(429);
  }
  const methods = methodsOf(route);
  // 404: an id in the path, or one named in a mutation's body (customer_id, order_id, plan ...)
  if (route.url.includes(':') || methods.some((m) => MUTATING.has(m))) out[404] = envelopeFor(404);
  if (methods.some((m) => m !== 'GET' && m !== 'HEAD' && m !== 'DELETE')) out[413] = envelopeFor(413);
  if (auth !== 'none' && methods.some((m) => MUTATING.has(m))) {
    // conflict: the resource is not in a state allowing it; idempotency_conflict: the key was used with another body
    out[409] = errorEnvelope(['conflict', 'idempotency_conflict']);
    out[502] = envelopeFor(502); // a mutation may call the payment provider
  }
  out[500] = envelopeFor(500);
  return out;
}

/**
 * The `onRoute` hook body: fills in what the document needs from the route itself. `tag` is the
 * name of the capability registering the route (set by buildApp while it mounts each capability).
 */
export function describeRoute(route: RouteOptions, tag: string | undefined): void {
  // A copy: routes answering under several spellings (src/http/aliases.ts) share one schema object.
  const schema = { ...((route.schema ?? {}) as Record<string, unknown>) };
  route.schema = schema;
  if (!route.url.startsWith('/v1/')) {
    schema.hide = true; // HTML pages, the dashboard, /health, /metrics: not part of the API
    return;
  }
  if (schema.hide) return;
  const [method = 'GET'] = methodsOf(route);
  const auth = authOf(route);
  schema.operationId ??= operationIdOf(method, route.url) + (schema.deprecated ? 'Alias' : '');
  schema.summary ??= summaryOf(method, route.url);
  // Routes mounted inside a plugin are added after the capability loop: tag them by their path.
  schema.tags ??= [tag ?? words(route.url)[0] ?? 'api'];
  schema.response = { ...defaultErrors(route, auth), ...((schema.response as object | undefined) ?? {}) };
}

const IDEMPOTENCY_KEY = {
  type: 'string',
  maxLength: 255,
  description:
    'Makes the mutation safe to retry: the first reply is stored for 24 h and replayed to any request with the same key and body; the same key with another body is 409 idempotency_conflict.',
};

/** The swagger `transform`: zod → JSON Schema, then security and the Idempotency-Key header. */
export const transformRoute: typeof jsonSchemaTransform = (input) => {
  const out = jsonSchemaTransform(input) as { schema: Record<string, unknown>; url: string };
  const route = input.route as unknown as { url: string; method: string | string[]; config?: unknown };
  const auth = authOf(route);
  const methods = (Array.isArray(route.method) ? route.method : [route.method]).map((m) => m.toUpperCase());
  if (auth === 'none') out.schema.security = [];
  if (auth !== 'none' && methods.some((m) => MUTATING.has(m))) {
    const headers = (out.schema.headers ?? { type: 'object', properties: {} }) as { properties?: Record<string, unknown> };
    headers.properties = { 'idempotency-key': IDEMPOTENCY_KEY, ...(headers.properties ?? {}) };
    out.schema.headers = headers;
  }
  return out as ReturnType<typeof jsonSchemaTransform>;
};

/**
 * A route's `schema.response`: its replies by status, for the document (and the suite's reply
 * check). Typed loosely on purpose: replies are JSON-encoded as built (Dates become ISO strings),
 * which the handler's TypeScript type cannot express.
 */
export function replies(byStatus: Record<number, z.ZodType | ContentReply>): Record<number, z.ZodType> {
  return byStatus as Record<number, z.ZodType>;
}

/** A reply in other media types than JSON (a PDF, a CSV), or in several: `replies({ 200: content('...', { 'application/pdf': binary }) })`. */
export interface ContentReply {
  description: string;
  content: Record<string, { schema: z.ZodType }>;
}
export function content(description: string, byType: Record<string, z.ZodType>): ContentReply {
  return { description, content: Object.fromEntries(Object.entries(byType).map(([type, schema]) => [type, { schema }])) };
}

/** A binary body (PDF, image) in the document. */
export const binary = z.string().meta({ format: 'binary' });
