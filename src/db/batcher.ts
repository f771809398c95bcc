/**
 * Group commit, leader/follower style: the first operation to arrive while nothing is in flight
 * runs at once, alone (no timer, so an idle server adds no latency); operations arriving while a
 * batch is in flight queue up and go together as the next batch as soon as it ends. A batch is
 * one call of `run`, which answers each operation (a value, or an Error for that one alone); if
 * `run` itself throws, every operation of the batch gets that error. Batches of one batcher never
 * overlap, so operations are applied in arrival order. Nothing here outlives a request: the queue
 * holds only operations whose callers are waiting.
 */
export class Batcher<I, O> {
  private queue: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  private running = false;
  /** Batches run so far and operations in them (for tests and the bench). */
  batches = 0;
  operations = 0;

  /**
   * `yieldFirst`: let the event loop turn once before taking a batch. For an in-process database
   * (PGlite), whose queries resolve without ever yielding to I/O: without it a request runs to its
   * reply before the next one is even read, and no batch ever forms. It costs one loop turn.
   */
  constructor(
    private readonly run: (items: I[]) => Promise<(O | Error)[]>,
    private readonly opts: { maxBatch?: number; yieldFirst?: boolean } = {},
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  get idle(): boolean {
    return !this.running && this.queue.length === 0;
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        if (this.opts.yieldFirst) await new Promise((r) => setImmediate(r));
        const batch = this.queue.splice(0, this.opts.maxBatch ?? 256);
        this.batches++;
        this.operations += batch.length;
        try {
          const out = await this.run(batch.map((b) => b.item));
          batch.forEach((b, i) => {
            const o = out[i];
            if (o instanceof Error) b.reject(o);
            else if (o === undefined) b.reject(new Error('batch returned no answer for an operation'));
            else b.resolve(o);
          });
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      }
    } finally {
      this.running = false;
    }
  }
}
