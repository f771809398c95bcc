import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CatalogInput, Feature } from '../src/domain/catalog.ts';
import { checkBatcher, type TrackOp, type TrackOutcome, trackBatcher } from '../src/modules/usage/usage.group.ts';
import { check, track, type UsageAnswer } from '../src/modules/usage/usage.service.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

const catalog: CatalogInput = {
  features: [
    { id: 'api_calls', type: 'metered' },
    { id: 'seats', type: 'allocated' },
    { id: 'sso', type: 'boolean' },
    { id: 'region', type: 'value' },
  ],
  free_plan: 'free',
  plans: [
    { id: 'free', name: 'Free', price: { amount: 0, currency: 'eur' }, features: { api_calls: { limit: 1000 }, seats: { limit: 10 }, region: { value: 'eu' } } },
  ],
};
const METERED: Feature = { id: 'api_calls', type: 'metered' } as Feature;
const ALLOCATED: Feature = { id: 'seats', type: 'allocated' } as Feature;

/** Submits ops to the project's batcher in this order (the first runs alone, the rest queue behind it). */
function submitAll(p: TestProject, ops: { customer: string; feature: Feature; quantity: number; key?: string }[]) {
  const b = trackBatcher(h.tg.ctx, p.id);
  return ops.map((o) => {
    const body = { customer_id: o.customer, feature: o.feature.id, quantity: o.quantity };
    const op: TrackOp = {
      body,
      feature: o.feature,
      key: o.key ?? null,
      hash: o.key ? `hash:${JSON.stringify(body)}` : null,
      single: () => track(h.tg.ctx, h.tg.ctx.db, p.id, body),
    };
    return b.submit(op);
  });
}
/** Runs `submit` while the batcher is busy with a blocker op, so what it submits forms exactly one batch (on either engine). */
async function behindBlocker<T>(p: TestProject, submit: () => T): Promise<T> {
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const blocker = trackBatcher(h.tg.ctx, p.id).submit({
    body: { customer_id: 'blocker', feature: 'api_calls', quantity: 1 },
    feature: METERED,
    key: null,
    hash: null,
    single: async () => {
      await gate;
      return 'blocker';
    },
  });
  await new Promise((r) => setImmediate(r));
  const out = submit();
  release();
  expect(await blocker).toEqual({ direct: 'blocker' });
  return out;
}
const answerOf = (o: TrackOutcome) => ('direct' in o ? o.direct : o.body) as UsageAnswer;
const counter = async (p: TestProject, customer: string, feature: string) =>
  Number(
    (
      await h.db.query<{ used: string }>('SELECT used FROM usage_counters WHERE project_id = $1 AND customer_id = $2 AND feature = $3', [
        p.id,
        customer,
        feature,
      ])
    ).rows[0]?.used ?? -1,
  );

describe('POST /v1/track group-committed', () => {
  it('64 tracks on a limit of 10: exactly the first 10 in arrival order, each with its own count, in two batches', async () => {
    const p = await h.project({ catalog });
    await p.call('POST', '/v1/customers', { id: 'race' });
    const b = trackBatcher(h.tg.ctx, p.id);
    const before = b.stats.batches;
    const answers = (
      await Promise.all(await behindBlocker(p, () => submitAll(p, Array.from({ length: 64 }, () => ({ customer: 'race', feature: ALLOCATED, quantity: 1 })))))
    ).map(answerOf);
    // The blocker alone, then the 64 together.
    expect(b.stats.batches - before).toBe(2);
    expect(b.stats.ops).toBe(65);
    answers.forEach((a, i) => {
      if (i < 10) expect(a, `op ${i}`).toMatchObject({ allowed: true, usage: i + 1, limit: 10, remaining: 10 - (i + 1) });
      else expect(a, `op ${i}`).toMatchObject({ allowed: false, reason: 'limit_reached', usage: 10, limit: 10, remaining: 0 });
    });
    expect(await counter(p, 'race', 'seats')).toBe(10);
    // A release in the same batch frees a unit for the next op, in order; a larger op refused does not block a smaller one.
    const mixed = (
      await Promise.all(
        await behindBlocker(p, () => submitAll(p, [
          { customer: 'race', feature: ALLOCATED, quantity: -1 },
          { customer: 'race', feature: ALLOCATED, quantity: -3 },
          { customer: 'race', feature: ALLOCATED, quantity: 5 },
          { customer: 'race', feature: ALLOCATED, quantity: 2 },
          { customer: 'race', feature: ALLOCATED, quantity: 1 },
        ])),
      )
    ).map(answerOf);
    expect(mixed.map((a) => [a.allowed, a.usage])).toEqual([
      [true, 9],
      [true, 6],
      [false, 6],
      [true, 8],
      [true, 9],
    ]);
    expect(await counter(p, 'race', 'seats')).toBe(9);
  });

  it('over HTTP, concurrent tracks with Idempotency-Keys count once per key; a replay answers the stored reply', async () => {
    const p = await h.project({ catalog });
    const send = (i: number, quantity = 1) =>
      p.call('POST', '/v1/track', { customer_id: `k${i % 4}`, feature: 'api_calls', quantity }, { 'idempotency-key': `t-${i}` });
    // 40 keys, each sent twice at once, over 4 customers (created by the first track).
    const b = trackBatcher(h.tg.ctx, p.id);
    const first = await Promise.all(Array.from({ length: 80 }, (_, j) => send(j % 40)));
    // They went in batches, not one by one.
    expect(b.stats.ops).toBe(80);
    expect(b.stats.batches).toBeLessThan(20);
    expect(first.map((r) => r.status)).toEqual(Array(80).fill(200));
    for (let c = 0; c < 4; c++) expect(await counter(p, `k${c}`, 'api_calls')).toBe(10);
    // Twins agree: the same usage for both sends of a key.
    for (let i = 0; i < 40; i++) expect(first[i]!.body).toEqual(first[i + 40]!.body);
    const usages = first.slice(0, 40).map((r) => r.body.usage as number);
    for (let c = 0; c < 4; c++) expect(usages.filter((_, i) => i % 4 === c).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const again = await send(7);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(first[7]!.body);
    const other = await send(7, 2);
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('idempotency_conflict');
    expect(await counter(p, 'k3', 'api_calls')).toBe(10);
  });

  it('a batch that fails at the database answers each op with an error and leaves nothing applied; its keys stay free', async () => {
    const p = await h.project({ catalog });
    for (const id of ['ok', 'boom']) await p.call('POST', '/v1/customers', { id });
    await h.db.exec(`CREATE FUNCTION track_group_boom() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF EXISTS (SELECT 1 FROM changed_rows WHERE customer_id = 'boom' AND used > 0) THEN RAISE EXCEPTION 'boom'; END IF; RETURN NULL; END $$;
      CREATE TRIGGER track_group_boom AFTER UPDATE ON usage_counters REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION track_group_boom();`);
    try {
      const alone = answerOf(await submitAll(p, [{ customer: 'ok', feature: METERED, quantity: 1, key: 'f-0' }])[0]!);
      expect(alone).toMatchObject({ allowed: true, usage: 1 });
      const ops = [
        { customer: 'ok', feature: METERED, quantity: 2, key: 'f-1' },
        { customer: 'boom', feature: METERED, quantity: 1, key: 'f-2' },
        { customer: 'ok', feature: ALLOCATED, quantity: 1, key: 'f-3' },
      ];
      const settled = await Promise.allSettled(await behindBlocker(p, () => submitAll(p, ops)));
      // One batch: it failed as a whole, each op with the error.
      expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected']);
      for (const s of settled) expect(String((s as PromiseRejectedResult).reason)).toContain('boom');
      expect(await counter(p, 'ok', 'api_calls')).toBe(1);
      expect(await counter(p, 'ok', 'seats')).toBe(-1);
      const keys = await h.db.query<{ key: string }>('SELECT key FROM idempotency_keys WHERE project_id = $1 ORDER BY key', [p.id]);
      // (The op that ran alone took this file's own one-at-a-time stand-in, which claims no key.)
      expect(keys.rows.map((r) => r.key)).toEqual([]);
    } finally {
      await h.db.exec('DROP TRIGGER track_group_boom ON usage_counters; DROP FUNCTION track_group_boom();');
    }
    // The same keys sent again apply now.
    const retried = (await Promise.all(await behindBlocker(p, () => submitAll(p, [{ customer: 'ok', feature: METERED, quantity: 1 }, { customer: 'ok', feature: METERED, quantity: 2, key: 'f-1' }, { customer: 'boom', feature: METERED, quantity: 1, key: 'f-2' }])))).map(answerOf);
    expect(retried.map((a) => [a.allowed, a.usage])).toEqual([
      [true, 2],
      [true, 4],
      [true, 1],
    ]);
    const keys = await h.db.query<{ key: string; status_code: number }>('SELECT key, status_code FROM idempotency_keys WHERE project_id = $1 ORDER BY key', [p.id]);
    expect(keys.rows).toEqual([
      { key: 'f-1', status_code: 200 },
      { key: 'f-2', status_code: 200 },
    ]);
  });

  it('counters equal the sum of what was allowed, over many concurrent tracks of many customers', async () => {
    const p = await h.project({ catalog });
    const calls = Array.from({ length: 200 }, (_, i) => {
      const customer = `m${i % 7}`;
      const feature = i % 3 === 0 ? 'seats' : 'api_calls';
      const quantity = feature === 'seats' ? 2 : (i % 5) + 1;
      return { customer, feature, quantity };
    });
    const res = await Promise.all(calls.map((c, i) => p.call('POST', '/v1/track', { customer_id: c.customer, feature: c.feature, quantity: c.quantity }, { 'idempotency-key': `s-${i}` })));
    expect(res.map((r) => r.status)).toEqual(Array(200).fill(200));
    for (let c = 0; c < 7; c++) {
      const metered = calls.reduce((n, x, i) => n + (x.customer === `m${c}` && x.feature === 'api_calls' && res[i]!.body.allowed ? x.quantity : 0), 0);
      expect(await counter(p, `m${c}`, 'api_calls')).toBe(metered);
      // Seats (limit 10, 2 at a time): exactly five allowed per customer, counting 2, 4, 6, 8, 10.
      const seats = res.filter((r, i) => calls[i]!.customer === `m${c}` && calls[i]!.feature === 'seats' && r.body.allowed).map((r) => r.body.usage as number);
      expect(seats.sort((a, b) => a - b)).toEqual([2, 4, 6, 8, 10]);
      expect(await counter(p, `m${c}`, 'seats')).toBe(10);
      // Metered (limit 1000, never reached here): every op allowed, each count distinct.
      const counts = res.filter((_r, i) => calls[i]!.customer === `m${c}` && calls[i]!.feature === 'api_calls').map((r) => r.body.usage as number);
      expect(new Set(counts).size).toBe(counts.length);
      expect(Math.max(...counts)).toBe(metered);
    }
    // Each reply stored under its key is the reply sent.
    const stored = await h.db.query<{ key: string; response: UsageAnswer }>('SELECT key, response FROM idempotency_keys WHERE project_id = $1', [p.id]);
    expect(stored.rows).toHaveLength(200);
    for (const row of stored.rows) expect(row.response).toEqual(res[Number(row.key.slice(2))]!.body);
  });

  it('a lone track of a known customer is one statement: whether the project erased anyone is answered once per project', async () => {
    const p = await h.project({ catalog });
    for (const id of ['q1', 'q2', 'q3']) await p.call('POST', '/v1/customers', { id });
    await p.call('POST', '/v1/track', { customer_id: 'q1', feature: 'api_calls' });
    const db = h.tg.ctx.db;
    const orig = db.query.bind(db);
    const seen: string[] = [];
    (db as { query: typeof db.query }).query = ((text: string, params?: unknown[]) => {
      seen.push(text);
      return orig(text, params);
    }) as typeof db.query;
    try {
      for (const id of ['q2', 'q3']) expect((await p.call('POST', '/v1/track', { customer_id: id, feature: 'api_calls' })).body).toMatchObject({ allowed: true, usage: 1 });
    } finally {
      (db as { query: typeof db.query }).query = orig;
    }
    expect(seen).toHaveLength(2);
    expect(seen.every((t) => t.includes('INSERT INTO usage_counters'))).toBe(true);
    // An erased customer is still refused (the per-project answer is dropped by the erasure).
    expect((await p.call('DELETE', '/v1/customers/q3', undefined, { 'idempotency-key': 'erase-q3' })).status).toBe(200);
    const gone = await p.call('POST', '/v1/track', { customer_id: 'q3', feature: 'api_calls' });
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('customer_deleted');
    expect((await p.call('POST', '/v1/track', { customer_id: 'q2', feature: 'api_calls' })).body).toMatchObject({ allowed: true, usage: 2 });
  });

  it('concurrent checks are read in one statement and answer exactly as one-at-a-time checks', async () => {
    const p = await h.project({ catalog });
    for (const id of ['h1', 'h2']) await p.call('POST', '/v1/customers', { id });
    await p.call('POST', '/v1/track', { customer_id: 'h1', feature: 'seats', quantity: 9 });
    await p.call('POST', '/v1/track', { customer_id: 'h2', feature: 'api_calls', quantity: 999 });
    const asks = [
      ['h1', 'seats', 1],
      ['h1', 'seats', 2],
      ['h2', 'api_calls', 1],
      ['h2', 'api_calls', 2],
      ['h1', 'api_calls', 1],
      ['h2', 'seats', -1],
      ['h1', 'sso', 1],
      ['h1', 'region', 1],
      ['new-one', 'seats', 1],
    ] as const;
    const features: Record<string, Feature> = {
      seats: ALLOCATED,
      api_calls: METERED,
      sso: { id: 'sso', type: 'boolean' } as Feature,
      region: { id: 'region', type: 'value' } as Feature,
    };
    const b = checkBatcher(h.tg.ctx, p.id);
    const before = b.stats.batches;
    const batched = await Promise.all(
      asks.map(([customer, feature, quantity]) => b.submit({ body: { customer_id: customer, feature, quantity }, feature: features[feature]! })),
    );
    expect(b.stats.batches - before).toBeLessThanOrEqual(2);
    const alone: UsageAnswer[] = [];
    for (const [customer, feature, quantity] of asks) alone.push(await check(h.tg.ctx, p.id, { customer_id: customer, feature, quantity }));
    expect(batched).toEqual(alone);
    expect(batched.map((a) => a.allowed)).toEqual([true, false, true, false, true, true, false, true, true]);
    // Over HTTP, the same answers.
    const http = await Promise.all(asks.map(([customer, feature, quantity]) => p.call('POST', '/v1/check', { customer_id: customer, feature, quantity })));
    expect(http.map((r) => r.body)).toEqual(alone);
    // Checks write nothing: the counters are as the tracks left them.
    expect(await counter(p, 'h1', 'seats')).toBe(9);
    expect(await counter(p, 'h2', 'api_calls')).toBe(999);
  });

  it('bad input and features without a counter answer as before', async () => {
    const p = await h.project({ catalog });
    const bad = await p.call('POST', '/v1/track', { customer_id: 'x', feature: 'nope' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_request');
    const zero = await p.call('POST', '/v1/track', { customer_id: 'x', feature: 'api_calls', quantity: 0 });
    expect(zero.status).toBe(400);
    const release = await p.call('POST', '/v1/track', { customer_id: 'x', feature: 'api_calls', quantity: -1 });
    expect(release.status).toBe(400);
    const bool = await p.call('POST', '/v1/track', { customer_id: 'x', feature: 'sso' });
    expect(bool.body).toMatchObject({ allowed: false, reason: 'not_included' });
    const key = await p.call('POST', '/v1/track', { customer_id: 'x', feature: 'api_calls' }, { 'idempotency-key': '' });
    expect(key.status).toBe(400);
    expect(await counter(p, 'x', 'api_calls')).toBe(-1);
  });
});
