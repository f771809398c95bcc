/**
 * Shared fixed-window counters with a local front. The authoritative counts live in the store
 * (Redis or PostgreSQL); each instance counts what it admits locally and writes it to the store
 * only when a decision needs the global count: once it has admitted more than
 * `slack = floor(limit / 10)` requests of a bucket's window without asking (then everything pending
 * is written in one batch, and the store's answer is the global count). A bucket that never gets
 * past its slack in a window is never written at all: a request below the slack costs no store
 * call, which is what keeps rate limits nearly free on a busy server (most buckets — one per API
 * key and one per customer — see few requests in any one second).
 *
 * The tolerance is the slack: each instance admits at most `slack` requests of a window that the
 * store has not seen, so N instances together may overshoot a limit by N × slack (~10 % of it per
 * instance); below 10 requests per window the slack is 0, every request asks the store and the count
 * is exact. One instance alone always counts exactly. A bucket known to be over its limit is refused
 * locally until its window ends. */
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

  constructor(
    private readonly store: CountStore,
    private readonly onError: (err: unknown) => void,
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
    if (!sync) return undefined;
    // Only this request's buckets: the others stay local until they need the store themselves.
    const ok = await this.flush(new Set(checks.map((c) => c.bucket)));
    if (!ok) return undefined; // store unavailable: fail open
    for (let i = 0; i < checks.length; i++) {
      const st = states[i] as BucketState;
      if (st.window === window && st.known > (checks[i] as Check).limit) return checks[i];
    }
    return undefined;
  }

  /** Writes what is pending (of `only` these buckets, else all) in one batch (flushes run one at a time); false if the store failed. */
  flush(only?: Set<string>): Promise<boolean> {
    const run = this.chain.then(() => this.write(only));
    this.chain = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  private async write(only?: Set<string>): Promise<boolean> {
    const entries: { bucket: string; window: number; n: number; st: BucketState }[] = [];
    const states: Iterable<[string, BucketState]> = only
      ? [...only].flatMap((b) => {
          const st = this.state.get(b);
          return st ? [[b, st] as [string, BucketState]] : [];
        })
      : this.state;
    for (const [bucket, st] of states) {
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
    await this.flush();
  }
}
