/**
 * One HTTP exchange with Tollgate, with its retries: plain `fetch` (Node >= 20 and browsers), a
 * timeout per attempt through an AbortSignal, an Idempotency-Key on every mutation that stays the
 * same across the retries of one call, and bounded exponential backoff that honours Retry-After.
 */
import { ConnectionError, errorFromReply, parseRetryAfterMs, TimeoutError, TollgateError } from './errors.js';
import type { CallOptions, Method } from './types.js';

export interface TransportOptions {
  apiKey: string;
  baseUrl: string;
  timeoutMs: number;
  maxRetries: number;
  /** First backoff delay (ms); doubled per retry, with jitter, up to `maxRetryDelayMs`. */
  retryDelayMs: number;
  /** Longest wait between two attempts, Retry-After included; a longer Retry-After is not waited for. */
  maxRetryDelayMs: number;
  fetch: typeof fetch;
  sleep: (ms: number) => Promise<void>;
}

export interface RawRequest extends CallOptions {
  method: Method;
  /** A concrete path (`/v1/customers/u_1/credits`), with its query string if any. */
  path: string;
  body?: unknown;
}

const MUTATIONS = new Set<Method>(['POST', 'PUT', 'PATCH', 'DELETE']);

/** A random key: crypto.randomUUID where it exists (Node, secure browser contexts), else getRandomValues. */
export function newIdempotencyKey(): string {
  const c = globalThis.crypto;
  if (typeof c?.randomUUID === 'function') return c.randomUUID();
  const b = c.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function retryable(status: number): boolean {
  return status === 429 || status >= 500;
}

export class Transport {
  constructor(readonly options: TransportOptions) {}

  async send<T>(req: RawRequest): Promise<T> {
    const o = this.options;
    const key = MUTATIONS.has(req.method) ? (req.idempotencyKey ?? newIdempotencyKey()) : undefined;
    const headers: Record<string, string> = { authorization: `Bearer ${o.apiKey}` };
    if (req.body !== undefined) headers['content-type'] = 'application/json';
    if (key) headers['idempotency-key'] = key;
    const payload = req.body !== undefined ? JSON.stringify(req.body) : undefined;
    const url = `${o.baseUrl}${req.path}`;
    const maxRetries = req.maxRetries ?? o.maxRetries;
    const timeoutMs = req.timeoutMs ?? o.timeoutMs;

    for (let attempt = 0; ; attempt++) {
      const outcome = await this.attempt(url, { method: req.method, headers, body: payload }, timeoutMs, req.signal);
      const last = attempt >= maxRetries;
      if (outcome instanceof TollgateError) {
        const wait = outcome.status === 0 ? this.backoff(attempt) : this.delayFor(outcome, attempt);
        if (last || wait === undefined || req.signal?.aborted || !(outcome.status === 0 || retryable(outcome.status))) throw outcome;
        await o.sleep(wait);
        continue;
      }
      return outcome as T;
    }
  }

  /** One attempt: the parsed success body, or the error it ended with (thrown for a caller's abort). */
  private async attempt(url: string, init: RequestInit, timeoutMs: number, signal: AbortSignal | undefined): Promise<unknown> {
    if (signal?.aborted) throw signal.reason;
    const controller = new AbortController();
    let timedOut = false;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            controller.abort();
          }, timeoutMs)
        : undefined;
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const res = await this.options.fetch(url, { ...init, signal: controller.signal });
      const type = res.headers.get('content-type') ?? '';
      // A document (an invoice PDF) comes back as its bytes.
      if (res.status < 300 && type && !type.includes('json') && !type.startsWith('text/')) return new Uint8Array(await res.arrayBuffer());
      const text = await res.text();
      let json: unknown;
      if (text && type.includes('json')) {
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
      }
      if (res.status >= 400) return errorFromReply(res.status, json, res.headers);
      if (!text) return undefined;
      return type.includes('json') ? json : text;
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (timedOut) return new TimeoutError(0, { code: 'timeout', message: `No reply from Tollgate within ${timeoutMs} ms` }, undefined, { cause: err });
      return new ConnectionError(0, { code: 'connection_error', message: `Could not reach Tollgate: ${(err as Error)?.message ?? String(err)}` }, undefined, {
        cause: err,
      });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Exponential backoff with jitter (50–100 % of the step), capped. */
  private backoff(attempt: number): number {
    const step = Math.min(this.options.maxRetryDelayMs, this.options.retryDelayMs * 2 ** attempt);
    return Math.round(step / 2 + (Math.random() * step) / 2);
  }

  /** The wait before retrying a reply: its Retry-After when it sent one (undefined: too long, give up), else backoff. */
  private delayFor(err: TollgateError, attempt: number): number | undefined {
    const after = parseRetryAfterMs(err.headers.get('retry-after'), Date.now());
    if (after === undefined) return this.backoff(attempt);
    return after <= this.options.maxRetryDelayMs ? after : undefined;
  }
}

/** `/v1/customers/{id}` + `{ id: 'u 1' }` → `/v1/customers/u%201`, then the query string. */
export function buildPath(template: string, path: Record<string, unknown> | undefined, query: Record<string, unknown> | undefined): string {
  const filled = template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const v = path?.[name];
    if (v === undefined || v === null || v === '') throw new TypeError(`Missing path parameter "${name}" for ${template}`);
    return encodeURIComponent(String(v));
  });
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v === undefined || v === null) continue;
    for (const item of Array.isArray(v) ? v : [v]) qs.append(k, String(item));
  }
  const s = qs.toString();
  return s ? `${filled}?${s}` : filled;
}
