/**
 * Verifies Tollgate's outgoing webhooks (Standard Webhooks): `webhook-signature` carries
 * `v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">` (several, space separated,
 * while a secret is rotated), keyed with the endpoint's `whsec_<base64>` secret. A timestamp more
 * than `toleranceSeconds` (5 min) away from now is refused, so a captured message cannot be replayed
 * later. Uses WebCrypto (`globalThis.crypto.subtle`: Node >= 20, Deno, Bun, workers).
 */

/** What Tollgate sends: the event's id (also `webhook-id`), type, time, customer and data. */
export interface WebhookEvent<T = Record<string, unknown>> {
  id: string;
  type: string;
  created_at: string;
  /** true for an event of a live-mode project (`sk_live_` keys), false in test mode. */
  livemode: boolean;
  customer_id: string | null;
  data: T;
}

export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

export interface VerifyOptions {
  /** Largest accepted distance between the message's timestamp and now (seconds, default 300). */
  toleranceSeconds?: number;
  /** "Now" for the timestamp check (default: the current time). */
  now?: Date | number;
}

export type WebhookFailure = 'missing_headers' | 'invalid_timestamp' | 'timestamp_too_old' | 'timestamp_too_new' | 'invalid_signature' | 'invalid_secret';

export class WebhookVerificationError extends Error {
  override name = 'WebhookVerificationError';
  constructor(
    readonly reason: WebhookFailure,
    message: string,
  ) {
    super(message);
  }
}

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const h = headers as Record<string, string | string[] | undefined>;
  const v = h[name] ?? Object.entries(h).find(([k]) => k.toLowerCase() === name)?.[1];
  return Array.isArray(v) ? v.join(' ') : v;
}

function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function toBase64(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

function equalConstantTime(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * Checks a delivery and returns its parsed event; throws `WebhookVerificationError` otherwise.
 * Pass the body exactly as received (the raw text or bytes, not a re-serialised object).
 */
export async function verifyWebhook<T = Record<string, unknown>>(
  headers: WebhookHeaders,
  body: string | Uint8Array | ArrayBuffer,
  secret: string,
  options: VerifyOptions = {},
): Promise<WebhookEvent<T>> {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestamp || !signatures) throw new WebhookVerificationError('missing_headers', 'Missing webhook-id, webhook-timestamp or webhook-signature header');
  if (!/^\d+$/.test(timestamp.trim())) throw new WebhookVerificationError('invalid_timestamp', 'webhook-timestamp is not a number of seconds');
  const nowSeconds = Math.floor(Number(options.now ?? Date.now()) / 1000);
  const tolerance = options.toleranceSeconds ?? 300;
  const at = Number(timestamp.trim());
  if (at < nowSeconds - tolerance) throw new WebhookVerificationError('timestamp_too_old', 'The message timestamp is too old');
  if (at > nowSeconds + tolerance) throw new WebhookVerificationError('timestamp_too_new', 'The message timestamp is in the future');

  let key: Uint8Array;
  try {
    key = fromBase64(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret);
  } catch {
    throw new WebhookVerificationError('invalid_secret', 'The secret is not whsec_ followed by base64');
  }
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body instanceof Uint8Array ? body : new Uint8Array(body);
  const prefix = new TextEncoder().encode(`${id}.${at}.`);
  const signed = new Uint8Array(prefix.length + bytes.length);
  signed.set(prefix, 0);
  signed.set(bytes, prefix.length);
  const subtle = globalThis.crypto.subtle;
  const hmacKey = await subtle.importKey('raw', key as BufferSource, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const expected = toBase64(new Uint8Array(await subtle.sign('HMAC', hmacKey, signed as BufferSource)));
  const ok = signatures
    .split(' ')
    .map((s) => s.split(','))
    .some(([version, sig]) => version === 'v1' && sig !== undefined && equalConstantTime(sig, expected));
  if (!ok) throw new WebhookVerificationError('invalid_signature', 'No matching signature found');
  return JSON.parse(new TextDecoder().decode(bytes)) as WebhookEvent<T>;
}
