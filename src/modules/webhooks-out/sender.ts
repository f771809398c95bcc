import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { assertPublicHost, guardedLookup, type Resolver } from './ssrf.ts';

export interface SendResult {
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  excerpt: string | null;
  /** The receiver's `retry-after`, in milliseconds, when it sent a usable one. */
  retryAfterMs: number | null;
}

export interface SendOptions {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  allowPrivate: boolean;
  /** Name resolution (tests inject one to play a DNS rebinding). */
  resolver?: Resolver;
  /** Seconds-from-now reference for an HTTP-date `retry-after`. */
  now: Date;
}

const EXCERPT_BYTES = 1024;
const MAX_READ_BYTES = 64 * 1024;

export function parseRetryAfter(value: string | undefined, now: Date): number | null {
  if (!value) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now.getTime());
}

/**
 * POSTs one webhook. Never follows a redirect; the whole exchange (connect, headers, body) is
 * bounded by the timeout; private addresses are refused at connect time unless allowed.
 */
export function sendWebhook(o: SendOptions): Promise<SendResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let url: URL;
  try {
    url = new URL(o.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`unsupported protocol ${url.protocol}`);
    if (!o.allowPrivate) assertPublicHost(url.hostname);
  } catch (err) {
    return Promise.resolve({ statusCode: null, error: (err as Error).message, excerpt: null, retryAfterMs: null, durationMs: elapsed() });
  }
  return new Promise<SendResult>((resolve) => {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (r: Omit<SendResult, 'durationMs'>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ ...r, durationMs: elapsed() });
    };
    const fail = (error: string) => finish({ statusCode: null, error, excerpt: null, retryAfterMs: null });

    const lib = url.protocol === 'https:' ? https : http;
    const req = lib.request(url, {
      method: 'POST',
      agent: false,
      headers: { ...o.headers, 'content-length': String(Buffer.byteLength(o.body)) },
      ...(o.allowPrivate ? {} : { lookup: guardedLookup(o.resolver) }),
    });
    timer = setTimeout(() => {
      req.destroy(new Error(`timed out after ${o.timeoutMs} ms`));
    }, o.timeoutMs);
    req.on('error', (err) => fail(err.message));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const complete = () => {
        const text = Buffer.concat(chunks).toString('utf8');
        finish({
          statusCode: res.statusCode ?? null,
          error: null,
          excerpt: text.length > 0 ? text.slice(0, EXCERPT_BYTES) : null,
          retryAfterMs: parseRetryAfter(res.headers['retry-after'], o.now),
        });
        res.destroy();
      };
      res.on('data', (c: Buffer) => {
        if (size < MAX_READ_BYTES) chunks.push(c);
        size += c.length;
        if (size >= MAX_READ_BYTES) complete();
      });
      res.on('end', complete);
      res.on('error', (err) => fail(err.message));
    });
    req.end(o.body);
  });
}
