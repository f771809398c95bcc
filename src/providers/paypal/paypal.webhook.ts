import { verify as verifySignature, X509Certificate } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { SignatureError } from '../../domain/errors.ts';
import type { ProviderCall, VerifiedWebhook, VerifyWebhookInput } from '../provider.ts';
import type { PaypalSettings } from './paypal.settings.ts';

/** PayPal serves its signing certificates from its API hosts only; anything else is never fetched. */
const CERT_HOSTS = new Set(['api.paypal.com', 'api.sandbox.paypal.com', 'api-m.paypal.com', 'api-m.sandbox.paypal.com']);
const MAX_CERT_BYTES = 64 * 1024;
/** A message whose PAYPAL-TRANSMISSION-TIME is further than this from Tollgate's clock is refused (as Stripe's tolerance). */
export const PAYPAL_TOLERANCE_S = 300;

export function isPaypalCertUrl(value: string): boolean {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return false;
  }
  return (
    u.protocol === 'https:' &&
    CERT_HOSTS.has(u.hostname) &&
    u.port === '' &&
    u.username === '' &&
    u.password === '' &&
    u.pathname.startsWith('/v1/notifications/certs/')
  );
}

export type CertFetcher = (url: string) => Promise<string>;

const defaultFetcher: CertFetcher = async (url) => {
  const res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`certificate fetch answered ${res.status}`);
  const text = await res.text();
  if (text.length > MAX_CERT_BYTES) throw new Error('certificate too large');
  return text;
};

let fetcher: CertFetcher = defaultFetcher;
const certs = new Map<string, X509Certificate>();

/** Replaces how certificates are fetched (tests serve their own); clears the cache. */
export function setPaypalCertFetcher(fn: CertFetcher | null): void {
  fetcher = fn ?? defaultFetcher;
  certs.clear();
}

async function certificate(url: string, now: Date): Promise<X509Certificate> {
  let cert = certs.get(url);
  if (!cert) {
    let pem: string;
    try {
      pem = await fetcher(url);
    } catch (err) {
      throw new SignatureError(`Could not fetch the PayPal certificate: ${(err as Error).message}`);
    }
    try {
      cert = new X509Certificate(pem);
    } catch {
      throw new SignatureError('The PayPal certificate is not a valid X.509 certificate');
    }
    if (certs.size >= 100) certs.delete(certs.keys().next().value as string);
    certs.set(url, cert);
  }
  if (new Date(cert.validTo).getTime() < now.getTime() || new Date(cert.validFrom).getTime() > now.getTime()) {
    certs.delete(url);
    throw new SignatureError('The PayPal certificate is outside its validity period');
  }
  return cert;
}

function header(h: VerifyWebhookInput['headers'], name: string): string {
  const v = h[name];
  return (Array.isArray(v) ? v[0] : v) ?? '';
}

/**
 * PayPal's offline verification: RSA-SHA256 over `transmissionId|timeStamp|webhookId|crc32(body)`
 * (CRC32 of the raw bytes as an unsigned decimal) against the certificate at PAYPAL-CERT-URL.
 */
export async function verifyPaypalWebhook(call: ProviderCall, input: VerifyWebhookInput): Promise<VerifiedWebhook> {
  const transmissionId = header(input.headers, 'paypal-transmission-id');
  const time = header(input.headers, 'paypal-transmission-time');
  const sig = header(input.headers, 'paypal-transmission-sig');
  const certUrl = header(input.headers, 'paypal-cert-url');
  const algo = header(input.headers, 'paypal-auth-algo');
  if (!transmissionId || !time || !sig || !certUrl) {
    throw new SignatureError('Missing PAYPAL-TRANSMISSION-ID, -TIME, -SIG or PAYPAL-CERT-URL header');
  }
  if (algo && algo !== 'SHA256withRSA') throw new SignatureError(`Unsupported PAYPAL-AUTH-ALGO '${algo}'`);
  if (!isPaypalCertUrl(certUrl)) throw new SignatureError('PAYPAL-CERT-URL is not on a PayPal host');
  const sentAt = Date.parse(time);
  if (Number.isNaN(sentAt)) throw new SignatureError('PAYPAL-TRANSMISSION-TIME is not a date');
  if (Math.abs(call.now.getTime() - sentAt) > PAYPAL_TOLERANCE_S * 1000) {
    throw new SignatureError(`PAYPAL-TRANSMISSION-TIME is outside the ${PAYPAL_TOLERANCE_S} s tolerance`);
  }
  const settings = call.settings as PaypalSettings | undefined;
  if (!settings) throw new SignatureError('PayPal is not configured for this project');
  const cert = await certificate(certUrl, call.now);
  const message = `${transmissionId}|${time}|${settings.webhook_id}|${crc32(input.rawBody) >>> 0}`;
  const signature = Buffer.from(sig, 'base64');
  let ok = false;
  try {
    ok = signature.length > 0 && verifySignature('sha256', Buffer.from(message), cert.publicKey, signature);
  } catch {
    ok = false;
  }
  if (!ok) throw new SignatureError('PayPal webhook signature does not match');
  let event: { id?: unknown; event_type?: unknown; create_time?: unknown };
  try {
    event = JSON.parse(input.rawBody.toString('utf8'));
  } catch {
    throw new SignatureError('PayPal webhook body is not JSON');
  }
  if (typeof event?.id !== 'string' || typeof event.event_type !== 'string') throw new SignatureError('Not a PayPal webhook event');
  const at = typeof event.create_time === 'string' ? new Date(event.create_time) : null;
  return { eventId: event.id, type: event.event_type, occurredAt: at && !Number.isNaN(at.getTime()) ? at : null, payload: event };
}
