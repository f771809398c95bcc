/**
 * Shared fixed-window counters with a local front. The authoritative counts live in the store
 * (Redis or PostgreSQL); each instance keeps what it has admitted but not yet written, writes it
 * in one batch (in the background every `flushMs`, or at once when a decision needs it), and learns
 * the global count from each write.
 *
 * An instance may admit up to `slack = floor(limit / 10)` requests of a window without asking the
 * store (so several instances may overshoot a limit by that much each, ~10 %); below 10 requests per
 * window every request asks the store and the count is exact. A bucket known to be over its limit is
 * refused locally until its window ends.
 */
export interface CountStore {
  add(entries: { bucket: string; window: number; n: number }[]): Promise<{ bucket: string; window: number; count: number }[]>;
}

interface BucketState {
  window: number;
  /** The global count the store last answered for this window. */
  known: number;
  /** Admitted here, not yet written. */
  pending: number;
  /** Being written now. */
  inflight: number;
  /** Admitted here without asking the store since the last write. */
  unsynced: number;
}

export interface Check {
  bucket: string;
  limit: number;
}

export class WindowCounter {
  private readonly state = new Map<string, BucketState>();
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: CountStore,
    private readonly onError: (err: unknown) => void,
    private readonly flushMs = 25,
  ) {}

  private stateOf(bucket: string, window: number): BucketState {
    let st = this.state.get(bucket);
    if (!st || st.window < window) {
      if (!st && this.state.size > 100_000) this.prune(window);
      st = { window, known: 0, pending: 0, inflight: 0, unsynced: 0 };
      this.state.set(bucket, st);
    }
    return st;
  }

  private prune(window: number): void {
    for (const [k, st] of this.state) if (st.window < window && st.pending === 0 && st.inflight === 0) this.state.delete(k);
  }

  /** Counts one request in every bucket; returns the first check it exceeds, if any. */
  async take(checks: Check[], window: number): Promise<Check | undefined> {
    const states = checks.map((c) => this.stateOf(c.bucket, window));
    for (let i = 0; i < checks.length; i++) {
      const st = states[i] as BucketState;
      if (st.known + st.inflight + st.pending + 1 > (checks[i] as Check).limit) return checks[i];
    }
    let sync = false;
    for (let i = 0; i < checks.length; i++) {
      const st = states[i] as BucketState;
      st.pending++;
      st.unsynced++;
      if (st.unsynced > Math.floor((checks[i] as Check).limit / 10)) sync = true;
    }
    if (!sync) {
      this.schedule();
      return undefined;
    }
    const ok = await this.flush();
    if (!ok) return undefined; // store unavailable: fail open
    for (let i = 0; i < checks.length; i++) {
      const st = states[i] as BucketState;
      if (st.window === window && st.known > (checks[i] as Check).limit) return checks[i];
    }
    return undefined;
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.flushMs);
    this.timer.unref();
  }

  /** Writes everything pending in one batch (flushes run one at a time); false if the store failed. */
  flush(): Promise<boolean> {
    const run = this.chain.then(() => this.write());
    this.chain = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  private async write(): Promise<boolean> {
    const entries: { bucket: string; window: number; n: number; st: BucketState }[] = [];
    for (const [bucket, st] of this.state) {
      if (st.pending > 0) {
        entries.push({ bucket, window: st.window, n: st.pending, st });
        st.inflight += st.pending;
        st.pending = 0;
        st.unsynced = 0;
      }
    }
    if (entries.length === 0) return true;
    entries.sort((a, b) => (a.bucket < b.bucket ? -1 : a.bucket > b.bucket ? 1 : 0));
    try {
      const counts = await this.store.add(entries.map(({ bucket, window, n }) => ({ bucket, window, n })));
      const byBucket = new Map(counts.map((r) => [r.bucket, r]));
      for (const e of entries) {
        e.st.inflight -= e.n;
        const r = byBucket.get(e.bucket);
        if (r && e.st.window === r.window) e.st.known = Math.max(e.st.known, r.count);
      }
      return true;
    } catch (err) {
      for (const e of entries) e.st.inflight -= e.n;
      this.onError(err);
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
