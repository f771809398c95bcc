/**
 * Group commit (leader/follower): operations submitted while no batch is in flight go at once, as
 * a batch of what has arrived (no timer, so an idle server adds no latency); operations submitted
 * while a batch is in flight wait, and go together as the next batch the moment it has committed.
 * `apply` runs one batch — one round trip, one transaction — and answers each operation in order
 * (an Error answer rejects that operation alone). If `apply` throws, every operation of that batch is answered with the error (the batch is one
 * transaction, so nothing of it was applied). Nothing here outlives a batch: the queue holds only
 * requests still waiting for their reply, so a crash loses no acknowledged operation.
 */
export class GroupCommit<Op, Res> {
  private queue: { op: Op; resolve: (r: Res) => void; reject: (e: unknown) => void }[] = [];
  private inFlight = 0;
  private paused: Promise<void> | null = null;
  /** Batches applied and operations in them, since start (for /metrics and the bench). */
  readonly stats = { batches: 0, ops: 0, largest: 0 };

  constructor(
    private readonly apply: (ops: Op[]) => Promise<(Res | Error)[]>,
    /**
     * `yieldFirst`: let the event loop turn once before taking a batch. For an in-process database
     * (PGlite), whose queries resolve without ever yielding to I/O: without it a request runs to its
     * reply before the next one is even read, and no batch ever forms. It costs one loop turn.
     */
    private readonly opts: { maxBatch: number; maxInFlight?: number; yieldFirst?: boolean } = { maxBatch: 256 },
  ) {}

  /** Operations waiting for a batch (not counting the batch in flight). */
  get pending(): number {
    return this.queue.length;
  }

  submit(op: Op): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      this.queue.push({ op, resolve, reject });
      if (this.inFlight < (this.opts.maxInFlight ?? 1)) void this.flush();
    });
  }

  /** Tests: batches wait until the returned function is called, so ops can be lined up in one batch. */
  pause(): () => void {
    let release = () => {};
    this.paused = new Promise<void>((r) => {
      release = r;
    });
    return () => {
      this.paused = null;
      release();
    };
  }

  private async flush(): Promise<void> {
    if (this.queue.length === 0 || this.inFlight >= (this.opts.maxInFlight ?? 1)) return;
    this.inFlight++;
    if (this.paused) await this.paused;
    if (this.opts.yieldFirst) await new Promise((r) => setImmediate(r));
    const batch = this.queue.splice(0, this.opts.maxBatch);
    try {
      if (batch.length === 0) return;
      this.stats.batches++;
      this.stats.ops += batch.length;
      this.stats.largest = Math.max(this.stats.largest, batch.length);
      const results = await this.apply(batch.map((b) => b.op));
      batch.forEach((b, i) => {
        const r = results[i];
        if (r instanceof Error) b.reject(r);
        else if (r === undefined) b.reject(new Error('group commit: no result for an operation'));
        else b.resolve(r);
      });
    } catch (err) {
      for (const b of batch) b.reject(err);
    } finally {
      this.inFlight--;
      if (this.queue.length > 0) void this.flush();
    }
  }
}
