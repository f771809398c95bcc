/**
 * A small TTL cache for derived, read-mostly data (API key → project, current catalog).
 * It holds nothing that matters: every entry can be re-read from PostgreSQL, and local
 * writes invalidate their entries at once; other instances see a change within the TTL.
 */
export class TtlCache<V> {
  private readonly map = new Map<string, { v: V; exp: number }>();
  constructor(
    private readonly ttlMs: number,
    private readonly max = 10_000,
  ) {}
  get(key: string): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (e.exp < Date.now()) {
      this.map.delete(key);
      return undefined;
    }
    return e.v;
  }
  set(key: string, v: V): void {
    if (this.map.size >= this.max) this.map.clear();
    this.map.set(key, { v, exp: Date.now() + this.ttlMs });
  }
  delete(key: string): void {
    this.map.delete(key);
  }
  clear(): void {
    this.map.clear();
  }
}
