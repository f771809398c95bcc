import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CatalogInput } from '../src/domain/catalog.ts';
import { runDueJobs } from '../src/jobs/runner.ts';
import { createTollgate, type Tollgate } from '../src/server.ts';
import { type Decision, type EntitlementSnapshot, EntitlementCache, SseParser } from '../sdk/src/realtime.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
let base: string;
beforeAll(async () => {
  h = await createHarness();
  base = await h.listen();
});
afterAll(async () => h?.close());

const catalog: CatalogInput = {
  signup_credits: 5,
  features: [
    { id: 'api_calls', type: 'metered' },
    { id: 'seats', type: 'allocated' },
    { id: 'sso', type: 'boolean' },
    { id: 'interval_min', type: 'value' },
    { id: 'render_seconds', type: 'credits', credit_cost: { credits: 1, per: 10 } },
  ],
  free_plan: 'free',
  plans: [
    { id: 'free', name: 'Free', price: { amount: 0, currency: 'eur' }, features: { api_calls: { limit: 10 }, seats: { limit: 3 }, interval_min: { value: 60 } } },
    { id: 'pro', name: 'Pro', price: { amount: 0, currency: 'eur' }, features: { api_calls: { limit: null }, seats: { limit: 100 }, sso: true, interval_min: { value: 5 } } },
  ],
};

/** Resolves once the cache holds a snapshot of the customer satisfying `pred` (fails after 5 s). */
function until(cache: EntitlementCache, customer: string, pred: (s: EntitlementSnapshot) => boolean): Promise<EntitlementSnapshot> {
  return new Promise((resolve, reject) => {
    const now = cache.snapshotOf(customer);
    if (now && pred(now)) return resolve(now);
    const timer = setTimeout(() => reject(new Error(`no matching snapshot of ${customer}: ${JSON.stringify(cache.snapshotOf(customer))}`)), 5000);
    const prev = cache.onSnapshot;
    cache.onSnapshot = (s) => {
      prev?.(s);
      if (s.customer_id === customer && pred(s)) {
        clearTimeout(timer);
        cache.onSnapshot = prev;
        resolve(s);
      }
    };
  });
}

const FIELDS = ['allowed', 'reason', 'type', 'plan', 'usage', 'limit', 'remaining', 'balance', 'required', 'value'] as const;
function decisionFields(d: Partial<Decision>) {
  return Object.fromEntries(FIELDS.filter((k) => d[k] !== undefined).map((k) => [k, d[k]]));
}

async function agree(p: TestProject, cache: EntitlementCache, customer: string, feature: string, quantity: number) {
  const local = cache.checkLocal(customer, feature, quantity);
  expect(local, `${customer}/${feature}/${quantity}: decided in-process`).not.toBeNull();
  const remote = await p.call('POST', '/v1/check', { customer_id: customer, feature, quantity });
  expect(remote.status).toBe(200);
  expect(decisionFields(local!), `${customer}/${feature}/${quantity}`).toEqual(decisionFields(remote.body));
  return local!;
}

describe('GET /v1/stream and the in-process check', () => {
  it('decides as POST /v1/check does: under, at and over the limit, unlimited, not included, boolean, value, credits', async () => {
    const p = await h.project({ catalog });
    for (const id of ['u', 'v']) expect((await p.call('POST', '/v1/customers', { id })).status).toBe(201);
    const cache = new EntitlementCache({ baseUrl: base, apiKey: p.key, customers: ['u', 'v'] });
    await cache.start();
    try {
      expect(cache.snapshotOf('u')).toMatchObject({ known: true, plan: 'free', credits: { balance: 5, available: 5 } });
      const features = ['api_calls', 'seats', 'sso', 'interval_min', 'render_seconds'];
      const states = async (label: string) => {
        for (const f of features) for (const q of [1, 3, 50]) await agree(p, cache, 'u', f, q);
        expect(label).toBeTruthy();
      };
      await states('fresh');
      await p.call('POST', '/v1/track', { customer_id: 'u', feature: 'api_calls', quantity: 8 });
      await until(cache, 'u', (s) => s.features.api_calls?.usage === 8);
      expect((await agree(p, cache, 'u', 'api_calls', 2)).allowed).toBe(true);
      expect((await agree(p, cache, 'u', 'api_calls', 3)).allowed).toBe(false);
      await p.call('POST', '/v1/track', { customer_id: 'u', feature: 'api_calls', quantity: 2 });
      await until(cache, 'u', (s) => s.features.api_calls?.usage === 10);
      expect(await agree(p, cache, 'u', 'api_calls', 1)).toMatchObject({ allowed: false, reason: 'limit_reached', remaining: 0 });
      await p.call('POST', '/v1/track', { customer_id: 'u', feature: 'seats', quantity: 3 });
      await until(cache, 'u', (s) => s.features.seats?.usage === 3);
      expect((await agree(p, cache, 'u', 'seats', 1)).allowed).toBe(false);
      expect((await agree(p, cache, 'u', 'seats', -2)).allowed).toBe(true);
      // Credits: held credits are not available.
      const hold = await p.call('POST', '/v1/customers/u/credits/holds', { amount: 3 });
      expect(hold.status).toBeLessThan(300);
      await until(cache, 'u', (s) => s.credits.held === 3);
      expect(await agree(p, cache, 'u', 'render_seconds', 20)).toMatchObject({ allowed: true, required: 2 });
      expect(await agree(p, cache, 'u', 'render_seconds', 21)).toMatchObject({ allowed: false, reason: 'insufficient_credits' });
      await states('used');
      // Upgraded: unlimited, boolean granted, another value.
      await p.call('POST', '/v1/customers/u/subscription', { plan: 'pro' });
      await until(cache, 'u', (s) => s.plan === 'pro');
      expect(await agree(p, cache, 'u', 'api_calls', 1_000_000)).toMatchObject({ allowed: true, limit: null, remaining: null });
      expect(await agree(p, cache, 'u', 'sso', 1)).toMatchObject({ allowed: true });
      expect(await agree(p, cache, 'u', 'interval_min', 1)).toMatchObject({ value: 5 });
      await states('pro');
      // The other customer of the filter was never touched: still its own state.
      await agree(p, cache, 'v', 'api_calls', 10);
      expect((await agree(p, cache, 'v', 'sso', 1)).allowed).toBe(false);
    } finally {
      cache.close();
    }
  });

  it('a test-clock move resets metered counts in the cache too; an unknown customer or feature is asked remotely', async () => {
    const p = await h.project({ catalog });
    await p.call('POST', '/v1/customers', { id: 'm' });
    const cache = new EntitlementCache({ baseUrl: base, apiKey: p.key });
    await cache.start();
    try {
      await p.call('POST', '/v1/track', { customer_id: 'm', feature: 'api_calls', quantity: 10 });
      await until(cache, 'm', (s) => s.features.api_calls?.usage === 10);
      expect((await agree(p, cache, 'm', 'api_calls', 1)).allowed).toBe(false);
      await p.call('POST', '/v1/test_helpers/clock/advance', { to: '2026-04-01T00:00:01Z' });
      // The whole project changed: the cache drops what it held and asks the server meanwhile.
      await new Promise<void>((resolve) => {
        const t = setInterval(() => {
          if (!cache.snapshotOf('m')) {
            clearInterval(t);
            resolve();
          }
        }, 5);
      });
      const remote = await cache.check('m', 'api_calls', 1);
      expect(remote).toMatchObject({ source: 'remote', allowed: true, usage: 0 });
      await until(cache, 'm', (s) => s.now >= '2026-04-01');
      expect(await agree(p, cache, 'm', 'api_calls', 1)).toMatchObject({ allowed: true, usage: 0, limit: 10 });
      // Unknown customer: remote (which creates it, as POST /v1/check does), then cached.
      expect(await cache.check('newcomer', 'seats', 1)).toMatchObject({ source: 'remote', allowed: true });
      await until(cache, 'newcomer', (s) => s.known);
      expect((await cache.check('newcomer', 'seats', 1)).source).toBe('cache');
      await expect(cache.check('newcomer', 'nope', 1)).rejects.toMatchObject({ status: 400 });
    } finally {
      cache.close();
    }
  });

  it('stale without messages: fail-open, fail-closed or remote, as configured', async () => {
    const p = await h.project({ catalog });
    await p.call('POST', '/v1/customers', { id: 's' });
    let offset = 0;
    const now = () => Date.now() + offset;
    const caches = (['fail-open', 'fail-closed', 'remote'] as const).map(
      (onStale) => new EntitlementCache({ baseUrl: base, apiKey: p.key, customers: ['s'], staleAfterMs: 1000, onStale, now }),
    );
    try {
      await Promise.all(caches.map((c) => c.start()));
      for (const c of caches) expect((await c.check('s', 'sso', 1)).source).toBe('cache');
      offset = 60_000; // a minute without a message or heartbeat
      const [open, closed, remote] = await Promise.all(caches.map((c) => c.check('s', 'sso', 1)));
      expect(open).toMatchObject({ source: 'stale-open', allowed: true });
      expect(closed).toMatchObject({ source: 'stale-closed', allowed: false });
      expect(remote).toMatchObject({ source: 'remote', allowed: false, reason: 'not_included' });
    } finally {
      for (const c of caches) c.close();
    }
  });

  it('a change made through another instance reaches this one, within 50 ms p99 here', async () => {
    const p = await h.project({ catalog });
    await p.call('POST', '/v1/customers', { id: 'x' });
    const other: Tollgate = await createTollgate({ config: h.config, db: h.db, clock: h.clock, runner: false, logger: false });
    await other.app.listen({ port: 0, host: '127.0.0.1' });
    const otherUrl = `http://127.0.0.1:${(other.app.server.address() as { port: number }).port}`;
    const cache = new EntitlementCache({ baseUrl: otherUrl, apiKey: p.key, customers: ['x'] });
    await cache.start();
    try {
      const latencies: number[] = [];
      const afterReply: number[] = [];
      for (let i = 1; i <= 100; i++) {
        const seen = until(cache, 'x', (s) => s.features.seats?.usage === i);
        const t0 = performance.now();
        const r = await fetch(`${base}/v1/track`, {
          method: 'POST',
          headers: { authorization: `Bearer ${p.key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ customer_id: 'x', feature: 'seats', quantity: 1 }),
        });
        expect(r.status).toBe(200);
        await r.json();
        const t1 = performance.now();
        await seen;
        const t2 = performance.now();
        latencies.push(t2 - t0);
        afterReply.push(Math.max(0, t2 - t1));
        if (i === 3) await p.call('POST', '/v1/customers/x/subscription', { plan: 'pro' });
        if (i === 3) await until(cache, 'x', (s) => s.plan === 'pro');
      }
      const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.ceil(xs.length * q) - 1]!;
      console.log(
        `stream: track request start → subscriber p50 ${pct(latencies, 0.5).toFixed(1)} ms p99 ${pct(latencies, 0.99).toFixed(1)} ms; ` +
          `committed reply → subscriber p50 ${pct(afterReply, 0.5).toFixed(1)} ms p99 ${pct(afterReply, 0.99).toFixed(1)} ms`,
      );
      // The change is committed before its reply: what the subscriber waits after that is the stream's delay.
      expect(pct(afterReply, 0.99)).toBeLessThan(50);
    } finally {
      cache.close();
      await other.close();
    }
  });

  it('resumes with Last-Event-ID: what changed while disconnected arrives, nothing else', async () => {
    const p = await h.project({ catalog });
    expect((await p.call('POST', '/v1/stream/leases', {})).status).toBe(200);
    for (const id of ['r1', 'r2', 'r3']) await p.call('POST', '/v1/customers', { id });
    const read = async (headers: Record<string, string>) => {
      const res = await fetch(`${base}/v1/stream?once=true`, { headers: { authorization: `Bearer ${p.key}`, ...headers } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/event-stream');
      const events: { event: string; data: string; id: string | null }[] = [];
      const parser = new SseParser((e) => events.push(e), () => {}, () => {});
      parser.push(await res.text());
      return events;
    };
    const first = await read({});
    expect(first.map((e) => e.event)).toEqual(['ready']);
    const cursor = first[0]!.id!;
    expect(Number(cursor)).toBeGreaterThan(0);
    await p.call('POST', '/v1/track', { customer_id: 'r1', feature: 'seats', quantity: 2 });
    await p.call('POST', '/v1/track', { customer_id: 'r3', feature: 'api_calls', quantity: 1 });
    const resumed = await read({ 'last-event-id': cursor });
    const snaps = resumed.filter((e) => e.event === 'snapshot').map((e) => JSON.parse(e.data) as EntitlementSnapshot);
    expect(snaps.map((s) => s.customer_id).sort()).toEqual(['r1', 'r3']);
    expect(snaps.find((s) => s.customer_id === 'r1')!.features.seats).toMatchObject({ usage: 2, limit: 3 });
    expect(resumed.every((e) => e.id !== null && Number(e.id) >= Number(cursor))).toBe(true);
    // The SDK reconnects by itself and resumes: a change made while it was cut off arrives.
    const cache = new EntitlementCache({ baseUrl: base, apiKey: p.key, reconnectDelayMs: 10 });
    await cache.start();
    try {
      await p.call('POST', '/v1/track', { customer_id: 'r2', feature: 'seats', quantity: 1 });
      await until(cache, 'r2', (s) => s.features.seats?.usage === 1);
      cache.dropConnection();
      await p.call('POST', '/v1/track', { customer_id: 'r2', feature: 'seats', quantity: 1 });
      await until(cache, 'r2', (s) => s.features.seats?.usage === 2);
    } finally {
      cache.close();
    }
  });

  it('a change whose notification was lost still arrives (the poll by seq)', async () => {
    const p = await h.project({ catalog });
    await p.call('POST', '/v1/customers', { id: 'q' });
    const cache = new EntitlementCache({ baseUrl: base, apiKey: p.key, customers: ['q'] });
    await cache.start();
    try {
      // A change logged without pg_notify, as if the notification never came.
      await h.db.tx(async (q) => {
        await q.exec('ALTER TABLE usage_counters DISABLE TRIGGER stream_usage_counters_ins');
        await q.query(
          `INSERT INTO usage_counters (project_id, customer_id, feature, used, lim, updated_at) VALUES ($1, 'q', 'seats', 2, 3, now())`,
          [p.id],
        );
        await q.query("INSERT INTO stream_changes (project_id, customer_id) VALUES ($1, 'q')", [p.id]);
        await q.exec('ALTER TABLE usage_counters ENABLE TRIGGER stream_usage_counters_ins');
      });
      const s = await until(cache, 'q', (x) => x.features.seats?.usage === 2);
      expect(s.features.seats).toMatchObject({ usage: 2, limit: 3 });
    } finally {
      cache.close();
    }
  });

  it('bad input is a JSON 400; a snapshot of an unknown or foreign customer is 404; reads write nothing', async () => {
    const p = await h.project({ catalog });
    const other = await h.project({ catalog });
    await other.call('POST', '/v1/customers', { id: 'theirs' });
    await p.call('POST', '/v1/customers', { id: 'mine' });
    for (const url of ['/v1/stream?customers=', '/v1/stream?customers=,', `/v1/stream?customers=${Array.from({ length: 1001 }, (_, i) => `c${i}`).join(',')}`, '/v1/stream?once=maybe', '/v1/stream?extra=1']) {
      const r = await p.call('GET', url);
      expect(r.status, url).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
    }
    await expect(new EntitlementCache({ baseUrl: base, apiKey: 'sk_test_wrong' }).start()).rejects.toMatchObject({ status: 401 });
    const badId = await p.call('GET', '/v1/stream', undefined, { 'last-event-id': 'abc' });
    expect(badId.status).toBe(400);
    expect(badId.body.error.param).toBe('Last-Event-ID');
    expect((await h.inject({ method: 'GET', url: '/v1/stream?once=true' })).status).toBe(401);
    expect((await p.call('GET', '/v1/customers/theirs/entitlements-snapshot')).body.error.code).toBe('customer_not_found');
    expect((await p.call('GET', '/v1/customers/nobody/entitlements-snapshot')).status).toBe(404);
    const count = async () => (await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM customers WHERE project_id = $1', [p.id])).rows[0]!.n;
    const before = await count();
    const once = await p.call('GET', '/v1/stream?once=true&customers=mine,ghost');
    expect(once.status).toBe(200);
    const events: { event: string; data: string }[] = [];
    new SseParser((e) => events.push(e), () => {}, () => {}).push(once.raw);
    const snaps = events.filter((e) => e.event === 'snapshot').map((e) => JSON.parse(e.data) as EntitlementSnapshot);
    expect(snaps.map((s) => [s.customer_id, s.known])).toEqual([
      ['mine', true],
      ['ghost', false],
    ]);
    expect(await count()).toBe(before);
    const snap = await p.call('GET', '/v1/customers/mine/entitlements-snapshot');
    expect(snap.status).toBe(200);
    expect(snap.body).toMatchObject({ object: 'entitlement_snapshot', customer_id: 'mine', plan: 'free', features: { seats: { limit: 3, usage: 0 } } });
  });

  it('changes are logged only while the project holds a stream lease; the SDK takes and releases one', async () => {
    const p = await h.project({ catalog });
    await p.call('POST', '/v1/customers', { id: 'l1' });
    const logged = async () =>
      (await h.db.query<{ n: number }>("SELECT count(*)::int AS n FROM stream_changes WHERE project_id = $1 AND customer_id = 'l1'", [p.id])).rows[0]!.n;
    const leases = async () => (await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM stream_leases WHERE project_id = $1', [p.id])).rows[0]!.n;
    // No lease: a write logs nothing.
    await p.call('POST', '/v1/track', { customer_id: 'l1', feature: 'seats', quantity: 1 });
    expect(await logged()).toBe(0);
    // A lease: every write of the project is logged (counters, credits), and a renewal keeps the id.
    const taken = await p.call('POST', '/v1/stream/leases', {}, { 'idempotency-key': 'lease-1' });
    expect(taken.status).toBe(200);
    expect(taken.body).toMatchObject({ object: 'stream_lease', ttl_seconds: 300, renew_after_seconds: 60 });
    expect(taken.body.id).toMatch(/^sl_/);
    const replay = await p.call('POST', '/v1/stream/leases', {}, { 'idempotency-key': 'lease-1' });
    expect(replay.body.id).toBe(taken.body.id);
    expect(await leases()).toBe(1);
    const renewed = await p.call('POST', '/v1/stream/leases', { id: taken.body.id });
    expect(renewed.body.id).toBe(taken.body.id);
    expect(await leases()).toBe(1);
    await p.call('POST', '/v1/track', { customer_id: 'l1', feature: 'seats', quantity: 1 });
    expect(await logged()).toBe(1);
    await p.call('POST', '/v1/customers/l1/credits/grant', { amount: 5 }, { 'idempotency-key': 'g1' });
    expect(await logged()).toBe(2);
    // Another project's lease does not turn logging on here.
    const other = await h.project({ catalog });
    await other.call('POST', '/v1/stream/leases', {});
    // Released: nothing logged again; releasing twice is 404.
    expect((await p.call('DELETE', `/v1/stream/leases/${taken.body.id}`)).body).toEqual({ object: 'stream_lease', id: taken.body.id, deleted: true });
    expect((await p.call('DELETE', `/v1/stream/leases/${taken.body.id}`)).status).toBe(404);
    await p.call('POST', '/v1/track', { customer_id: 'l1', feature: 'seats', quantity: 1 });
    expect(await logged()).toBe(2);
    // A lapsed lease logs nothing either.
    await h.db.query("INSERT INTO stream_leases (project_id, id, expires_at) VALUES ($1, 'sl_old', now() - interval '1 second')", [p.id]);
    await p.call('POST', '/v1/track', { customer_id: 'l1', feature: 'seats', quantity: -1 });
    expect(await logged()).toBe(2);
    // Bad input is a JSON 400 and takes nothing.
    const bad = await p.call('POST', '/v1/stream/leases', { id: 'has space' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_request');
    expect(await leases()).toBe(1);
    // The SDK takes a lease before it connects and releases it on close.
    const cache = new EntitlementCache({ baseUrl: base, apiKey: p.key, customers: ['l1'] });
    await cache.start();
    expect(await leases()).toBe(2);
    await p.call('POST', '/v1/track', { customer_id: 'l1', feature: 'seats', quantity: 1 });
    const s = await until(cache, 'l1', (x) => x.features.seats?.usage === 3);
    expect(s.features.seats).toMatchObject({ usage: 3, limit: 3 });
    expect(await logged()).toBe(3);
    cache.close();
    await expect.poll(leases).toBe(1);
  });

  it('a stream read without a lease (an older client) is told every second that what it holds may be outdated', async () => {
    const p = await h.project({ catalog });
    await p.call('POST', '/v1/customers', { id: 'old' });
    const abort = new AbortController();
    const res = await fetch(`${base}/v1/stream?customers=old`, { headers: { authorization: `Bearer ${p.key}` }, signal: abort.signal });
    const events: { event: string; data: string }[] = [];
    const parser = new SseParser((e) => events.push(e), () => {}, () => {});
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    const next = async (pred: () => boolean) => {
      const deadline = Date.now() + 5000;
      while (!pred() && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.push(decoder.decode(value, { stream: true }));
      }
      return pred();
    };
    try {
      expect(await next(() => events.some((e) => e.event === 'ready'))).toBe(true);
      await p.call('POST', '/v1/track', { customer_id: 'old', feature: 'seats', quantity: 2 });
      // Not logged (no lease), yet a fresh snapshot of its customer arrives within the poll.
      const fresh = () => events.some((e) => e.event === 'snapshot' && (JSON.parse(e.data) as EntitlementSnapshot).features.seats?.usage === 2);
      expect(await next(fresh)).toBe(true);
      expect(
        (await h.db.query<{ n: number }>("SELECT count(*)::int AS n FROM stream_changes WHERE project_id = $1 AND customer_id = 'old'", [p.id])).rows[0]!.n,
      ).toBe(0);
    } finally {
      abort.abort();
      await reader.cancel().catch(() => {});
    }
  });

  // Last: it moves the harness clock far ahead.
  it('the change log keeps 15 minutes: a resume from before what was pruned starts with reset', async () => {
    const p = await h.project({ catalog });
    expect((await p.call('POST', '/v1/stream/leases', {})).status).toBe(200);
    await p.call('POST', '/v1/customers', { id: 'late' });
    const once = async (headers: Record<string, string> = {}) => {
      const res = await fetch(`${base}/v1/stream?once=true`, { headers: { authorization: `Bearer ${p.key}`, ...headers } });
      const events: { event: string; data: string; id: string | null }[] = [];
      new SseParser((e) => events.push(e), () => {}, () => {}).push(await res.text());
      return events;
    };
    const cursor = (await once())[0]!.id!;
    await p.call('POST', '/v1/track', { customer_id: 'late', feature: 'seats', quantity: 1 });
    const before = (await p.call('GET', '/v1/customers/late/entitlements-snapshot')).body as EntitlementSnapshot;
    const logged = async () => (await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM stream_changes WHERE project_id = $1', [p.id])).rows[0]!.n;
    expect(await logged()).toBeGreaterThan(0);
    h.clock.set(new Date(Date.now() + 16 * 60_000));
    await runDueJobs(h.tg.ctx);
    expect(await logged()).toBe(0);
    const resumed = await once({ 'last-event-id': cursor });
    expect(resumed.map((e) => e.event)).toEqual(['reset', 'ready']);
    expect(Number(resumed[1]!.id)).toBeGreaterThanOrEqual(before.seq);
    // A snapshot read after the pruning is not older than one read before it.
    const after = (await p.call('GET', '/v1/customers/late/entitlements-snapshot')).body as EntitlementSnapshot;
    expect(after.seq).toBeGreaterThanOrEqual(before.seq);
    expect(after.features.seats).toMatchObject({ usage: 1 });
  });
});
