/**
 * Errors thrown by the client. Every failure is a `TollgateError`; a reply with an error status
 * becomes the subclass for its code or status (read from Tollgate's envelope
 * `{"error": {"code", "message", "request_id", "param"?, ...details}}`), and a call that got no
 * reply at all is a `ConnectionError` (or `TimeoutError`) with status 0.
 */

/** The `error` object of Tollgate's error envelope. */
export interface TollgateErrorBody {
  code: string;
  message: string;
  request_id?: string;
  param?: string;
  [detail: string]: unknown;
}

export class TollgateError extends Error {
  override name = 'TollgateError';
  /** The HTTP status (0 when no reply arrived). */
  readonly status: number;
  /** The whole `error` object of the envelope: code, message, request_id and the code's details. */
  readonly body: TollgateErrorBody;
  /** The reply's headers (empty when no reply arrived). */
  readonly headers: Headers;

  constructor(status: number, body: TollgateErrorBody, headers: Headers = new Headers(), options?: { cause?: unknown }) {
    super(body.message, options);
    this.status = status;
    this.body = body;
    this.headers = headers;
  }

  /** The machine code: `insufficient_credits`, `customer_not_found`, `rate_limited` ... */
  get code(): string {
    return this.body.code;
  }
  /** The field a 400 is about, when the server names one. */
  get param(): string | undefined {
    return typeof this.body.param === 'string' ? this.body.param : undefined;
  }
  get requestId(): string | undefined {
    return this.body.request_id ?? this.headers.get('request-id') ?? undefined;
  }
}

/** 400: the request was malformed; `param` names the field when the server knows it. */
export class InvalidRequestError extends TollgateError {
  override name = 'InvalidRequestError';
}
/** 401: the key or session token is missing, unknown or revoked. */
export class AuthenticationError extends TollgateError {
  override name = 'AuthenticationError';
}
/** 402 `insufficient_credits`: the customer's available credits do not cover the amount. */
export class InsufficientCreditsError extends TollgateError {
  override name = 'InsufficientCreditsError';
  /** The customer's balance (held credits included). */
  get balance(): number {
    return Number(this.body.balance);
  }
  /** The credits the call needed. */
  get required(): number {
    return Number(this.body.required);
  }
  /** What could be spent: the balance minus the credits on hold. */
  get available(): number {
    return Number(this.body.available ?? this.body.balance);
  }
}
/** 402 other than credits: `payment_required`, `card_declined`. */
export class PaymentRequiredError extends TollgateError {
  override name = 'PaymentRequiredError';
}
/** 403: the key may not do this (scope, publishable key, another customer's session). */
export class PermissionError extends TollgateError {
  override name = 'PermissionError';
}
/** 404: `not_found` or `customer_not_found`. */
export class NotFoundError extends TollgateError {
  override name = 'NotFoundError';
}
/** 409: `conflict`, `idempotency_conflict`, `insufficient_stock`. */
export class ConflictError extends TollgateError {
  override name = 'ConflictError';
}
/** 429: too many requests; retried by the client until its retries are spent. */
export class RateLimitError extends TollgateError {
  override name = 'RateLimitError';
  /** Seconds to wait, from the reply's Retry-After (or the envelope's `retry_after`). */
  get retryAfter(): number | undefined {
    const header = parseRetryAfterMs(this.headers.get('retry-after'), Date.now());
    if (header !== undefined) return Math.ceil(header / 1000);
    return typeof this.body.retry_after === 'number' ? this.body.retry_after : undefined;
  }
}
/** 5xx: the server (or the payment provider behind it) failed; retried by the client. */
export class ServerError extends TollgateError {
  override name = 'ServerError';
}
/** No reply: the connection failed or was cut. Retried by the client. */
export class ConnectionError extends TollgateError {
  override name = 'ConnectionError';
}
/** No reply within `timeoutMs`. Retried by the client. */
export class TimeoutError extends ConnectionError {
  override name = 'TimeoutError';
}

/** The error for a reply with status >= 400 and its parsed body (or undefined). */
export function errorFromReply(status: number, json: unknown, headers: Headers): TollgateError {
  const envelope = (json as { error?: unknown } | undefined)?.error;
  const body: TollgateErrorBody =
    envelope && typeof envelope === 'object' && typeof (envelope as TollgateErrorBody).code === 'string'
      ? (envelope as TollgateErrorBody)
      : { code: status >= 500 ? 'internal_error' : 'http_error', message: `HTTP ${status} without an error envelope` };
  if (status === 402) return body.code === 'insufficient_credits' ? new InsufficientCreditsError(status, body, headers) : new PaymentRequiredError(status, body, headers);
  const Class =
    status === 400
      ? InvalidRequestError
      : status === 401
        ? AuthenticationError
        : status === 403
          ? PermissionError
          : status === 404
            ? NotFoundError
            : status === 409
              ? ConflictError
              : status === 429
                ? RateLimitError
                : status >= 500
                  ? ServerError
                  : TollgateError;
  return new Class(status, body, headers);
}

/** Milliseconds from a Retry-After value (seconds or an HTTP date), or undefined. */
export function parseRetryAfterMs(value: string | null, nowMs: number): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
