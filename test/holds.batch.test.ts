import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { holdsBatcher } from '../src/modules/credits/credits.holds-batch.ts';
import { createHarness, type Harness, type Res, type TestProject } from './support/harness.ts';
import { lineUp } from './support/batch.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

const catalog = { ...DEMO_CATALOGS.aurisvoice!.catalog, signup_credits: 0 };
const batcher = () => holdsBatcher({ db: h.db, config: h.config });

const { queued, oneBatch } = lineUp(batcher);

const headers = (key?: string): Record<string, string> => (key ? { 'idempotency-key': key } : {});
const hold = (p: TestProject, c: string, body: unknown, key?: string) => () => p.call('POST', `/v1/customers/${c}/credits/holds`, body, headers(key));
const capture = (p: TestProject, id: string, body?: unknown, key?: string) => () => p.call('POST', `/v1/holds/${id}/capture`, body ?? {}, headers(key));
const release = (p: TestProject, id: string, key?: string) => () => p.call('POST', `/v1/holds/${id}/release`, undefined, headers(key));

async function seeded(balances: Record<string, number>): Promise<TestProject> {
  const p = await h.project({ catalog });
  for (const [c, amount] of Object.entries(balances)) {
    expect((await p.call('POST', `/v1/customers/${c}/credits/grant`, { amount, reason: 'seed' })).status).toBe(200);
  }
  return p;
}

/** A hold made before the batch (a batch of one: the one-at-a-time path). */
async function held(p: TestProject, c: string, amount: number): Promise<string> {
  const r = await hold(p, c, { amount })();
  expect(r.status).toBe(201);
  return r.body.id;
}

/** The account, checked: held = Σ open holds, balance = Σ ledger, no entry below zero. */
async function account(p: TestProject, c: string) {
  const q = <T>(sql: string) => h.db.query<T>(sql, [p.id, c]).then((r) => r.rows);
  const [acct] = await q<{ balance: number; held: number }>('SELECT balance, held FROM credit_accounts WHERE project_id = $1 AND customer_id = $2');
  const [open] = await q<{ s: number }>("SELECT coalesce(sum(amount), 0)::bigint AS s FROM credit_holds WHERE project_id = $1 AND customer_id = $2 AND status = 'held'");
  const entries = await q<{ amount: number; balance_after: number; kind: string }>(
    'SELECT amount, balance_after, kind FROM ledger_entries WHERE project_id = $1 AND customer_id = $2 ORDER BY seq',
  );
  expect(Number(acct!.held)).toBe(Number(open!.s));
  expect(entries.reduce((s, e) => s + Number(e.amount), 0)).toBe(Number(acct!.balance));
  expect(entries.every((e) => Number(e.balance_after) >= 0)).toBe(true);
  expect(Number(acct!.balance) - Number(acct!.held)).toBeGreaterThanOrEqual(0);
  return { balance: Number(acct!.balance), held: Number(acct!.held), entries };
}

describe('issue 16: group commit of holds, captures and releases', () => {
  it('a hold then a capture of another hold of the same customer, in one batch: applied in arrival order, each its own balance after', async () => {
    const p = await seeded({ c: 10 });
    const h1 = await held(p, 'c', 6);
    const { replies, batches } = await oneBatch([hold(p, 'c', { amount: 4, reason: 'job 2' }), capture(p, h1, { amount: 5 })]);
    expect(batches).toBe(1);
    expect(replies.map((r) => r.status)).toEqual([201, 200]);
    // The hold saw the balance before the capture (10, all of it held now); the capture saw the hold.
    expect(replies[0]!.body).toMatchObject({ status: 'held', amount: 4, reason: 'job 2', balance: 10, held: 10, available: 0 });
    expect(replies[1]!.body).toMatchObject({ id: h1, status: 'captured', captured_amount: 5, balance: 5, held: 4, available: 1 });
    const a = await account(p, 'c');
    expect(a).toMatchObject({ balance: 5, held: 4 });
    expect(a.entries.map((e) => [e.kind, e.amount, e.balance_after])).toEqual([
      ['grant', 10, 10],
      ['capture', -5, 5],
    ]);
    const got = await p.call('GET', `/v1/holds/${replies[0]!.body.id}`);
    expect(got.body).toMatchObject({ status: 'held', amount: 4 });
  });

  it('two holds where the second exceeds what is available: that one alone gets insufficient_credits, the first succeeds', async () => {
    const p = await seeded({ c: 10, d: 3 });
    const { replies, batches } = await oneBatch([hold(p, 'c', { amount: 7 }), hold(p, 'c', { amount: 4 }), hold(p, 'd', { amount: 3 })]);
    expect(batches).toBe(1);
    expect(replies.map((r) => r.status)).toEqual([201, 402, 201]);
    expect(replies[1]!.body.error).toMatchObject({ code: 'insufficient_credits', balance: 10, required: 4, available: 3 });
    expect(await account(p, 'c')).toMatchObject({ balance: 10, held: 7 });
    expect(await account(p, 'd')).toMatchObject({ balance: 3, held: 3 });
    const rows = await h.db.query('SELECT 1 FROM credit_holds WHERE project_id = $1', [p.id]);
    expect(rows.rowCount).toBe(2);
  });

  it('capture of a released hold gets a conflict alone; a release and capture of one hold in one batch: the capture conflicts', async () => {
    const p = await seeded({ c: 20 });
    const gone = await held(p, 'c', 5);
    expect((await release(p, gone)()).status).toBe(200);
    const h2 = await held(p, 'c', 4);
    const h3 = await held(p, 'c', 3);
    const { replies, batches } = await oneBatch([
      capture(p, gone),
      release(p, h2),
      capture(p, h2, { amount: 1 }),
      capture(p, h3, { amount: 2 }),
      capture(p, 'hold_nope'),
      capture(p, h3, { amount: 9 }),
    ]);
    expect(batches).toBe(1);
    expect(replies.map((r) => r.status)).toEqual([409, 200, 409, 200, 404, 409]);
    expect(replies[0]!.body.error).toMatchObject({ code: 'conflict', message: 'Hold is already released', status: 'released' });
    expect(replies[2]!.body.error).toMatchObject({ code: 'conflict', status: 'released' });
    expect(replies[5]!.body.error).toMatchObject({ code: 'conflict', status: 'captured' });
    expect(replies[1]!.body).toMatchObject({ id: h2, status: 'released', captured_amount: null, balance: 20, held: 3 });
    expect(replies[3]!.body).toMatchObject({ id: h3, status: 'captured', captured_amount: 2, balance: 18, held: 0, available: 18 });
    expect(replies[4]!.body.error.code).toBe('not_found');
    expect(await account(p, 'c')).toMatchObject({ balance: 18, held: 0 });
  });

  it('a capture over the hold (400) and of an expired hold (409) change nothing, and fail no other op', async () => {
    const p = await seeded({ c: 10 });
    const h1 = await held(p, 'c', 4);
    const short = await p.call('POST', '/v1/customers/c/credits/holds', { amount: 2, expires_in: 60 });
    h.clock.advance(61_000);
    const { replies } = await oneBatch([capture(p, h1, { amount: 5 }), capture(p, short.body.id), capture(p, h1, { amount: 4 })]);
    expect(replies.map((r) => r.status)).toEqual([400, 409, 200]);
    expect(replies[0]!.body.error).toMatchObject({ code: 'invalid_request', param: 'amount' });
    expect(replies[1]!.body.error).toMatchObject({ code: 'conflict', message: 'Hold has expired and was released', status: 'expired' });
    expect(replies[2]!.body).toMatchObject({ balance: 6, held: 2 });
    const a = await account(p, 'c');
    expect(a).toMatchObject({ balance: 6, held: 2 });
  });

  it('the same Idempotency-Key twice in one batch and again later: one effect, identical replies; another body: 409', async () => {
    const p = await seeded({ c: 10 });
    const h1 = await held(p, 'c', 2);
    const { replies } = await oneBatch([
      hold(p, 'c', { amount: 3 }, 'k-hold'),
      hold(p, 'c', { amount: 3 }, 'k-hold'),
      capture(p, h1, { amount: 1 }, 'k-cap'),
      capture(p, h1, { amount: 1 }, 'k-cap'),
      hold(p, 'c', { amount: 1 }, 'k-other'),
      hold(p, 'c', { amount: 2 }, 'k-other'),
    ]);
    expect(replies.map((r) => r.status)).toEqual([201, 201, 200, 200, 201, 409]);
    // A replay is the stored reply (jsonb orders its keys, on the one-at-a-time path too): the same JSON value.
    expect(replies[1]!.body).toEqual(replies[0]!.body);
    expect(replies[3]!.body).toEqual(replies[2]!.body);
    expect(replies[1]!.headers['idempotent-replayed']).toBe('true');
    expect(replies[0]!.headers['idempotent-replayed']).toBeUndefined();
    expect(replies[5]!.body.error.code).toBe('idempotency_conflict');
    const holds = await h.db.query("SELECT amount FROM credit_holds WHERE project_id = $1 AND status = 'held' ORDER BY amount", [p.id]);
    expect(holds.rows.map((r) => Number(r.amount))).toEqual([1, 3]);
    expect(await account(p, 'c')).toMatchObject({ balance: 9, held: 4 });
    // Across batches: the stored reply comes back, byte for byte as the in-batch twin had it, with no second effect.
    const again = await oneBatch([hold(p, 'c', { amount: 3 }, 'k-hold'), capture(p, h1, { amount: 1 }, 'k-cap')]);
    expect(again.replies.map((r) => r.status)).toEqual([201, 200]);
    expect(again.replies[0]!.raw).toBe(replies[1]!.raw);
    expect(again.replies[1]!.raw).toBe(replies[3]!.raw);
    expect(again.replies[0]!.body).toEqual(replies[0]!.body);
    expect(again.replies.every((r) => r.headers['idempotent-replayed'] === 'true')).toBe(true);
    expect(await account(p, 'c')).toMatchObject({ balance: 9, held: 4 });
  });

  it('a keyed op refused in a batch leaves its key free, as a rolled-back request does', async () => {
    const p = await seeded({ c: 3 });
    const { replies } = await oneBatch([hold(p, 'c', { amount: 5 }, 'k-short'), hold(p, 'c', { amount: 1 })]);
    expect(replies.map((r) => r.status)).toEqual([402, 201]);
    expect((await h.db.query('SELECT 1 FROM idempotency_keys WHERE project_id = $1', [p.id])).rowCount).toBe(0);
    await p.call('POST', '/v1/customers/c/credits/grant', { amount: 10, reason: 'more' });
    const ok = await hold(p, 'c', { amount: 5 }, 'k-short')();
    expect(ok.status).toBe(201);
  });

  it('a batch gives the same replies, ledger entries and outbox events as the same ops one at a time', async () => {
    const run = async (batched: boolean) => {
      const p = await seeded({ c: 50, n: 5 });
      const h1 = await held(p, 'c', 10);
      const h2 = await held(p, 'c', 8);
      const sends = [
        hold(p, 'c', { amount: 6, reason: 'render' }, 'k1'),
        capture(p, h1, { amount: 7 }, 'k2'),
        release(p, h2),
        hold(p, 'c', { amount: 100 }),
        hold(p, 'new-customer', { amount: 1 }),
        capture(p, h2),
        hold(p, 'n', { usage: { feature: 'dubbing_seconds', quantity: 25 } }),
      ];
      const replies = batched ? (await oneBatch(sends)).replies : await sends.reduce(async (acc, s) => [...(await acc), await s()], Promise.resolve([] as Res[]));
      const entries = await h.db.query(
        'SELECT customer_id, amount, balance_after, kind, reason, source_id, metadata, created_at FROM ledger_entries WHERE project_id = $1 ORDER BY seq',
        [p.id],
      );
      const events = await h.db.query('SELECT type, customer_id, payload, created_at FROM outbox_events WHERE project_id = $1 ORDER BY seq', [p.id]);
      const keys = await h.db.query('SELECT key, status_code, response FROM idempotency_keys WHERE project_id = $1 ORDER BY key', [p.id]);
      // Ids are fresh each run: name them by order of appearance.
      const ids = new Map<string, string>([[h1, 'H1'], [h2, 'H2']]);
      const norm = (s: string) =>
        s.replace(/hold_[A-Za-z0-9]+/g, (m) => {
          if (!ids.has(m)) ids.set(m, `H${ids.size + 1}`);
          return ids.get(m)!;
        }).replaceAll(p.id, 'P').replace(/(req|led)_[A-Za-z0-9]+/g, '$1_x');
      return norm(JSON.stringify({ replies: replies.map((r) => [r.status, r.raw]), entries: entries.rows, events: events.rows, keys: keys.rows }));
    };
    const one = await run(false);
    const batched = await run(true);
    expect(batched).toBe(one);
    expect(batched).toContain('"kind":"capture"');
  });

  it('one batch across two projects, and a capture from an account holding expiring grants (spent soonest-expiring first)', async () => {
    const p = await seeded({ c: 10 });
    const q = await seeded({ c: 4 });
    const exp = new Date(h.clock.now().getTime() + 86_400_000).toISOString();
    await p.call('POST', '/v1/customers/g/credits/grant', { amount: 5, reason: 'soon', expires_at: exp });
    await p.call('POST', '/v1/customers/g/credits/grant', { amount: 5, reason: 'later', expires_at: new Date(h.clock.now().getTime() + 2 * 86_400_000).toISOString() });
    const hg = await held(p, 'g', 8);
    const { replies, batches } = await oneBatch([hold(p, 'c', { amount: 10 }), hold(q, 'c', { amount: 5 }), capture(p, hg, { amount: 7 }), hold(q, 'c', { amount: 4 })]);
    expect(batches).toBe(1);
    expect(replies.map((r) => r.status)).toEqual([201, 402, 200, 201]);
    expect(replies[1]!.body.error).toMatchObject({ code: 'insufficient_credits', balance: 4, available: 4 });
    expect(replies[2]!.body).toMatchObject({ balance: 3, held: 0 });
    expect(await account(p, 'c')).toMatchObject({ balance: 10, held: 10 });
    expect(await account(q, 'c')).toMatchObject({ balance: 4, held: 4 });
    expect(await account(p, 'g')).toMatchObject({ balance: 3, held: 0 });
    const grants = await h.db.query('SELECT reason, remaining FROM credit_grants WHERE project_id = $1 AND customer_id = $2 ORDER BY expires_at', [p.id, 'g']);
    expect(grants.rows.map((g) => [g.reason, Number(g.remaining)])).toEqual([
      ['soon', 0],
      ['later', 3],
    ]);
  });

  it('under real concurrency (no pause), keys sent twice: one effect per key, twins answered alike, the invariants hold', async () => {
    const p = await seeded({ a: 40, b: 40, c: 40 });
    const customers = ['a', 'b', 'c'];
    const batchesBefore = batcher().stats.batches;
    const opsBefore = batcher().stats.ops;
    const made = await Promise.all(
      Array.from({ length: 30 }, (_v, i) => i).flatMap((i) => {
        const send = hold(p, customers[i % 3]!, { amount: 1 + (i % 4) }, `k-h-${i}`);
        return [send(), send()];
      }),
    );
    for (let i = 0; i < made.length; i += 2) expect(made[i + 1]!.body).toEqual(made[i]!.body);
    const ok = made.filter((r, i) => i % 2 === 0 && r.status === 201);
    expect(ok.length).toBeGreaterThan(0);
    const closed = await Promise.all(
      ok.flatMap((r, i) => {
        const send = i % 2 === 0 ? capture(p, r.body.id, { amount: 1 }, `k-c-${i}`) : release(p, r.body.id, `k-c-${i}`);
        return [send(), send()];
      }),
    );
    for (let i = 0; i < closed.length; i += 2) {
      expect(closed[i]!.status).toBe(200);
      expect(closed[i + 1]!.body).toEqual(closed[i]!.body);
    }
    // Every request went through the batcher (a twin met in its own batch goes again after it), in fewer batches than requests.
    const ops = batcher().stats.ops - opsBefore;
    expect(ops).toBeGreaterThanOrEqual(made.length + closed.length);
    expect(batcher().stats.batches - batchesBefore).toBeLessThan(ops / 2);
    const holds = await h.db.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM credit_holds WHERE project_id = $1 GROUP BY status ORDER BY status', [p.id]);
    const captures = Math.ceil(ok.length / 2);
    expect(holds.rows).toEqual([
      ...(captures > 0 ? [{ status: 'captured', n: captures }] : []),
      ...(ok.length - captures > 0 ? [{ status: 'released', n: ok.length - captures }] : []),
    ]);
    let spent = 0;
    for (const c of customers) {
      const a = await account(p, c);
      expect(a.held).toBe(0);
      spent += 40 - a.balance;
    }
    expect(spent).toBe(captures);
  });

  it('a batch failing at the database answers each request with an error and applies nothing of it', async () => {
    const p = await seeded({ a: 10, b: 10 });
    const hb = await held(p, 'b', 4);
    await h.db.exec(`
      CREATE FUNCTION test_fail_hold() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.reason = 'boom' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER test_fail_hold BEFORE INSERT ON credit_holds FOR EACH ROW EXECUTE FUNCTION test_fail_hold();`);
    try {
      const { replies, batches } = await oneBatch([hold(p, 'a', { amount: 1 }, 'k-fail-a'), capture(p, hb, { amount: 2 }, 'k-fail-b'), hold(p, 'a', { amount: 1, reason: 'boom' })]);
      expect(batches).toBe(1);
      expect(replies.map((r) => r.status)).toEqual([500, 500, 500]);
      for (const r of replies) expect(r.body.error.code).toBe('internal_error');
    } finally {
      await h.db.exec('DROP TRIGGER test_fail_hold ON credit_holds; DROP FUNCTION test_fail_hold();');
    }
    expect(await account(p, 'a')).toMatchObject({ balance: 10, held: 0 });
    expect(await account(p, 'b')).toMatchObject({ balance: 10, held: 4 });
    expect((await p.call('GET', `/v1/holds/${hb}`)).body.status).toBe('held');
    expect((await h.db.query('SELECT 1 FROM idempotency_keys WHERE project_id = $1', [p.id])).rowCount).toBe(0);
    // The keys were not left claimed: the same requests now run once.
    const { replies } = await oneBatch([hold(p, 'a', { amount: 1 }, 'k-fail-a'), capture(p, hb, { amount: 2 }, 'k-fail-b')]);
    expect(replies.map((r) => r.status)).toEqual([201, 200]);
    expect(replies.some((r) => r.headers['idempotent-replayed'])).toBe(false);
    expect(await account(p, 'b')).toMatchObject({ balance: 8, held: 0 });
  });

  it('/metrics counts the batches and ops of every path, holds by kind', async () => {
    const p = await seeded({ c: 100 });
    const ids = await Promise.all([held(p, 'c', 1), held(p, 'c', 1), held(p, 'c', 1)]);
    const scrape = async () => {
      const m = await h.inject({ method: 'GET', url: '/metrics' });
      expect(m.status).toBe(200);
      const num = (name: string, labels: string) => Number(new RegExp(`^${name}\\{${labels}\\} (\\d+)$`, 'm').exec(m.raw)?.[1] ?? 0);
      return {
        batches: num('tollgate_group_commit_batches_total', 'path="holds"'),
        ops: num('tollgate_group_commit_ops_total', 'path="holds"'),
        hold: num('tollgate_group_commit_ops_by_kind_total', 'path="holds",kind="hold"'),
        capture: num('tollgate_group_commit_ops_by_kind_total', 'path="holds",kind="capture"'),
        release: num('tollgate_group_commit_ops_by_kind_total', 'path="holds",kind="release"'),
        largest: num('tollgate_group_commit_largest_batch', 'path="holds"'),
        deductOps: num('tollgate_group_commit_ops_total', 'path="deduct"'),
      };
    };
    const before = await scrape();
    expect(before.ops).toBe(batcher().stats.ops);
    const { batches } = await oneBatch([
      ...Array.from({ length: 5 }, () => hold(p, 'c', { amount: 2 })),
      capture(p, ids[0]!),
      capture(p, ids[1]!),
      release(p, ids[2]!),
    ]);
    expect(batches).toBe(1);
    await p.call('POST', '/v1/customers/c/credits/deduct', { amount: 1 });
    const after = await scrape();
    expect(after.batches - before.batches).toBe(1);
    expect(after.ops - before.ops).toBe(8);
    expect([after.hold - before.hold, after.capture - before.capture, after.release - before.release]).toEqual([5, 2, 1]);
    expect(after.largest).toBeGreaterThanOrEqual(8);
    expect(after.deductOps - before.deductOps).toBe(1);
  });
});
