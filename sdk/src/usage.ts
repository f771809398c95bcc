/**
 * UsageRecorder: buffers usage events and sends them to `POST /v1/track/batch`.
 *
 * Every event gets its `event_id` once, when it is recorded; a batch that failed (network error,
 * 5xx, 429, a restarting server) is sent again with the same ids, so the server counts each event
 * exactly once — a resend of an event it already has answers `duplicate`. Events stay queued until
 * the server answered for them: nothing is lost, nothing is doubled.
 *
 * Self-contained on purpose (no imports): it runs wherever `fetch` does.
 */

export interface UsageEvent {
  customer_id: string;
  feature: string;
  quantity?: number;
  /** Your own id (e.g. a request id); generated when absent. */
  event_id?: string;
  /** When it happened (ISO 8601); stored with the event. */
  timestamp?: string;
}

export interface BatchResult {
  event_id: string;
  status: 'recorded' | 'duplicate' | 'error';
  error?: { code: string; message: string };
}

export interface UsageRecorderOptions {
  baseUrl: string;
  apiKey: string;
  fetch?: typeof fetch;
  /** Events per request (at most 1000, the server's limit). */
  maxBatch?: number;
  /** How often waiting events are sent. */
  flushIntervalMs?: number;
  /** First wait before resending a failed batch (doubles, up to maxRetryDelayMs). */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** An event the server did not apply (limit reached, unknown feature …) or a batch it refused as a whole (400). */
  onError?: (error: { result?: BatchResult; event?: QueuedEvent; status?: number; message: string }) => void;
}

export interface QueuedEvent {
  event_id: string;
  customer_id: string;
  feature: string;
  quantity: number;
  timestamp?: string;
}

function newEventId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return `ev_${c.randomUUID()}`;
  return `ev_${Date.now().toString(36)}_${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class UsageRecorder {
  private readonly queue: QueuedEvent[] = [];
  private readonly opts: Required<Omit<UsageRecorderOptions, 'onError' | 'fetch'>> & Pick<UsageRecorderOptions, 'onError'>;
  private readonly fetchFn: typeof fetch;
  private timer: ReturnType<typeof setInterval> | null = null;
  private running: Promise<void> | null = null;
  private closed = false;
  private readonly onBeforeExit = () => {
    if (this.queue.length > 0) void this.flush();
  };

  constructor(options: UsageRecorderOptions) {
    this.opts = {
      baseUrl: options.baseUrl.replace(/\/+$/, ''),
      apiKey: options.apiKey,
      maxBatch: Math.max(1, Math.min(1000, options.maxBatch ?? 1000)),
      flushIntervalMs: options.flushIntervalMs ?? 1000,
      retryDelayMs: options.retryDelayMs ?? 250,
      maxRetryDelayMs: options.maxRetryDelayMs ?? 30_000,
      onError: options.onError,
    };
    this.fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.timer = setInterval(() => {
      if (this.queue.length > 0) void this.flush();
    }, this.opts.flushIntervalMs);
    (this.timer as { unref?: () => void }).unref?.();
    // Node only: send what is left when the process runs out of work.
    const proc = (globalThis as { process?: { on?: (e: string, f: () => void) => void } }).process;
    proc?.on?.('beforeExit', this.onBeforeExit);
  }

  /** Queues one event; returns its event_id. */
  record(event: UsageEvent): string {
    if (this.closed) throw new Error('UsageRecorder is closed');
    const e: QueuedEvent = {
      event_id: event.event_id ?? newEventId(),
      customer_id: event.customer_id,
      feature: event.feature,
      quantity: event.quantity ?? 1,
      ...(event.timestamp ? { timestamp: event.timestamp } : {}),
    };
    this.queue.push(e);
    if (this.queue.length >= this.opts.maxBatch) void this.flush();
    return e.event_id;
  }

  /** Events waiting to be sent. */
  get pending(): number {
    return this.queue.length;
  }

  /** Sends everything queued so far; resolves when the server answered for all of it. */
  flush(): Promise<void> {
    const next = (this.running ?? Promise.resolve()).then(() => this.drain());
    this.running = next;
    void next.finally(() => {
      if (this.running === next) this.running = null;
    });
    return next;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.slice(0, this.opts.maxBatch);
      await this.send(batch);
      // Only now is the batch off the queue: a crash or a failed send before this keeps it.
      this.queue.splice(0, batch.length);
    }
  }

  private async send(batch: QueuedEvent[]): Promise<void> {
    let delay = this.opts.retryDelayMs;
    for (;;) {
      let status = 0;
      let body: unknown = null;
      try {
        const res = await this.fetchFn(`${this.opts.baseUrl}/v1/track/batch`, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.opts.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ events: batch }),
        });
        status = res.status;
        body = await res.json().catch(() => null);
      } catch {
        status = 0; // network: resend the same events
      }
      if (status === 200) {
        const results = (body as { results?: BatchResult[] } | null)?.results ?? [];
        for (const r of results) if (r.status === 'error') this.opts.onError?.({ result: r, message: r.error?.message ?? 'not applied' });
        return;
      }
      if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
        // Refused as a whole (a malformed event, a revoked key): resending cannot succeed.
        const message = (body as { error?: { message?: string } } | null)?.error?.message ?? `HTTP ${status}`;
        for (const event of batch) this.opts.onError?.({ event, status, message });
        return;
      }
      await sleep(delay);
      delay = Math.min(delay * 2, this.opts.maxRetryDelayMs);
    }
  }

  /** Stops the interval, sends what is queued and waits for it. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const proc = (globalThis as { process?: { off?: (e: string, f: () => void) => void } }).process;
    proc?.off?.('beforeExit', this.onBeforeExit);
    await this.flush();
  }
}
