/**
 * The Standard Webhooks example schedule: after the first attempt, retries 5 s, 5 min, 30 min,
 * 2 h, 5 h, 10 h, 14 h, 20 h and 24 h later (about three days in all), then the delivery fails.
 */
export const RETRY_DELAYS_MS: readonly number[] = [
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3_600_000,
  5 * 3_600_000,
  10 * 3_600_000,
  14 * 3_600_000,
  20 * 3_600_000,
  24 * 3_600_000,
];

/** Jitter spreads retries of many deliveries: up to this fraction is added to each delay. */
export const RETRY_JITTER = 0.1;

/** A receiver's `retry-after` is honoured up to this long. */
export const MAX_RETRY_AFTER_MS = 24 * 3_600_000;

export type AttemptOutcome = 'succeeded' | 'disable' | 'retry';

/** 2xx succeeds; 410 Gone disables the endpoint; everything else (3xx included, never followed) is retried. */
export function classifyResponse(statusCode: number | null): AttemptOutcome {
  if (statusCode !== null && statusCode >= 200 && statusCode < 300) return 'succeeded';
  if (statusCode === 410) return 'disable';
  return 'retry';
}

/**
 * The delay before retry number `step` (0-based), or null once the schedule is spent (dead letter).
 * `random` is in [0, 1); a receiver's `retry-after` can only push the retry later.
 */
export function nextRetryDelay(step: number, random: number, retryAfterMs: number | null = null): number | null {
  const base = RETRY_DELAYS_MS[step];
  if (base === undefined) return null;
  const jittered = Math.round(base * (1 + RETRY_JITTER * random));
  if (retryAfterMs === null) return jittered;
  return Math.max(jittered, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
}
