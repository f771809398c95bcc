/** Machine codes and their HTTP status, in one table. */
export const ERROR_STATUS = {
  invalid_request: 400,
  invalid_signature: 400,
  unauthorized: 401,
  insufficient_credits: 402,
  member_limit_exceeded: 402,
  payment_required: 402,
  card_declined: 402,
  forbidden: 403,
  livemode_forbidden: 403,
  not_found: 404,
  customer_not_found: 404,
  customer_deleted: 404,
  idempotency_conflict: 409,
  conflict: 409,
  insufficient_stock: 409,
  payload_too_large: 413,
  rate_limited: 429,
  provider_error: 502,
  internal_error: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.status = ERROR_STATUS[code];
  }
}

export class InvalidRequestError extends AppError {
  constructor(message: string, param?: string, details: Record<string, unknown> = {}) {
    super('invalid_request', message, param ? { param, ...details } : details);
  }
}

export class NotFoundError extends AppError {
  constructor(what: string, id: string) {
    super('not_found', `No such ${what}: '${id}'`, { resource: what });
  }
}

export class CustomerNotFoundError extends AppError {
  constructor(id: string) {
    super('customer_not_found', `No such customer: '${id}'`);
  }
}

/** The customer was erased (DELETE /v1/customers/:id): its reads answer 404 with this code, its mutations refuse. */
export class CustomerDeletedError extends AppError {
  constructor(id: string) {
    super('customer_deleted', `Customer '${id}' was deleted; its personal data is erased`);
  }
}

export class InsufficientCreditsError extends AppError {
  constructor(balance: number, required: number, available = balance) {
    super('insufficient_credits', `Insufficient credits: ${required} required, ${available} available`, {
      balance,
      required,
      available,
    });
  }
}

/** A test-only thing (sandbox, test cards, test helpers, test clock, test credentials) asked of live mode, or the reverse. */
export class LivemodeForbiddenError extends AppError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('livemode_forbidden', message, details);
  }
}

export class ConflictError extends AppError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('conflict', message, details);
  }
}

export class PaymentRequiredError extends AppError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('payment_required', message, details);
  }
}

export class ForbiddenError extends AppError {
  constructor(message: string) {
    super('forbidden', message);
  }
}

export class SignatureError extends AppError {
  constructor(message: string) {
    super('invalid_signature', message);
  }
}

export class ProviderError extends AppError {
  constructor(provider: string, message: string, details: Record<string, unknown> = {}) {
    super('provider_error', `${provider}: ${message}`, { provider, ...details });
  }
}

export class InsufficientStockError extends AppError {
  constructor(productId: string, available: number, requested: number) {
    super('insufficient_stock', `Only ${available} of '${productId}' left; ${requested} requested`, {
      product_id: productId,
      available,
      requested,
    });
  }
}
