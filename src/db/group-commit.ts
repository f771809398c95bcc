/**
 * Group commit (leader/follower): operations submitted while no batch is in flight go at once, as
 * a batch of what has arrived (no timer, so an idle server adds no latency); operations submitted
 * while a batch is in flight wait, and go together as the next batch the moment it has committed.
 * `apply` runs one batch — one round trip, one transaction — and answers each operation in order
 * (an Error answer rejects that operation alone). If `apply` throws, every operation of that batch is answered with the error (the batch is one
 * transaction, so nothing of it was applied). Nothing here outlives a batch: the queue holds only
 * requests still waiting for their reply, so a crash loses no acknowledged operation.
 */
/** What /metrics shows of one batcher: its path (`deduct`, `track`, `check`, `holds`) and its stats. */
export interface GroupCommitStats {
  path: string;
  batches: number;
  ops: number;
  largest: number;
  /** Operations by kind, for a batcher that mixes kinds (holds: `hold`, `capture`, `release`). */
  byKind: Record<string, number>;
}

/** Every batcher of one database (the owner), for /metrics; a WeakMap, so a closed app's batchers go with it. */
const registered = new WeakMap<object, Set<{ path: string; gc: GroupCommit<never, unknown> }>>();

/** The stats of every batcher registered for this database, one row per path (track and check batchers are per project: summed). */
export function groupCommitStats(owner: object): GroupCommitStats[] {
  const byPath = new Map<string, GroupCommitStats>();
  for (const { path, gc } of registered.get(owner) ?? []) {
    const s = byPath.get(path) ?? { path, batches: 0, ops: 0, largest: 0, byKind: {} };
    s.batches += gc.stats.batches;
    s.ops += gc.stats.ops;
    s.largest = Math.max(s.largest, gc.stats.largest);
    for (const [k, n] of Object.entries(gc.stats.byKind)) s.byKind[k] = (s.byKind[k] ?? 0) + n;
    byPath.set(path, s);
  }
  return [...byPath.values()];
}

export class GroupCommit<Op, Res> {
  private queue: { op: Op; resolve: (r: Res) => void; reject: (e: unknown) => void }[] = [];
  private inFlight = 0;
  private paused: Promise<void> | null = null;
  /** Batches applied and operations in them, since start (for /metrics and the bench). */
  readonly stats: { batches: number; ops: number; largest: number; byKind: Record<string, number> } = { batches: 0, ops: 0, largest: 0, byKind: {} };

  constructor(
    private readonly apply: (ops: Op[]) => Promise<(Res | Error)[]>,
    /**
     * `yieldFirst`: let the event loop turn once before taking a batch. For an in-process database
     * (PGlite), whose queries resolve without ever yielding to I/O: without it a request runs to its
     * reply before the next one is even read, and no batch ever forms. It costs one loop turn.
     */
    private readonly opts: {
      maxBatch: number;
      maxInFlight?: number;
      yieldFirst?: boolean;
      /** Shown on /metrics under this path, for this owner (the database). */
      metrics?: { owner: object; path: string };
      /** Counts the operations by this kind too (stats.byKind). */
      kindOf?: (op: Op) => string;
    } = { maxBatch: 256 },
  ) {
    if (opts.metrics) {
      let set = registered.get(opts.metrics.owner);
      if (!set) {
        set = new Set();
        registered.set(opts.metrics.owner, set);
      }
      set.add({ path: opts.metrics.path, gc: this as unknown as GroupCommit<never, unknown> });
    }
  }

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
      const kindOf = this.opts.kindOf;
      if (kindOf) for (const b of batch) this.stats.byKind[kindOf(b.op)] = (this.stats.byKind[kindOf(b.op)] ?? 0) + 1;
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
