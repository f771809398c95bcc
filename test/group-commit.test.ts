import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppContext } from '../src/app/context.ts';
import { defaultRegistry } from '../src/app/capabilities.ts';
import { systemClock } from '../src/clock.ts';
import { openDb } from '../src/db/db.ts';
import { migrate } from '../src/db/migrate.ts';
import { randomToken } from '../src/domain/ids.ts';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { deductBatcher } from '../src/modules/credits/credits.batch.ts';
import { createProject } from '../src/modules/projects/projects.service.ts';
import { createHarness, type Harness, type Res, TEST_ENCRYPTION_KEY, testConfig, type TestProject } from './support/harness.ts';
import { lineUp } from './support/batch.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

const catalog = { ...DEMO_CATALOGS.aurisvoice!.catalog, signup_credits: 0 };
const batcher = () => deductBatcher({ db: h.db, config: h.config } as AppContext);

const { queued, oneBatch } = lineUp(batcher);

async function ledger(p: TestProject, customer: string) {
  const acct = (
    await h.db.query<{ balance: number; held: number }>('SELECT balance, held FROM credit_accounts WHERE project_id = $1 AND customer_id = $2', [
      p.id,
      customer,
    ])
  ).rows[0]!;
  const entries = (
    await h.db.query<{ id: string; amount: number; balance_after: number; reason: string | null }>(
      'SELECT id, amount, balance_after, reason FROM ledger_entries WHERE project_id = $1 AND customer_id = $2 ORDER BY seq',
      [p.id, customer],
    )
  ).rows;
  // The cached balance equals the sum of the entries, and nothing ever went below zero.
  expect(entries.reduce((s, e) => s + Number(e.amount), 0)).toBe(Number(acct.balance));
  expect(entries.every((e) => Number(e.balance_after) >= 0)).toBe(true);
  return { balance: Number(acct.balance), entries };
}

const deduct = (p: TestProject, customer: string, body: unknown, key?: string) => () =>
  p.call('POST', `/v1/customers/${customer}/credits/deduct`, body, key ? { 'idempotency-key': key } : {});

async function seeded(balances: Record<string, number>): Promise<TestProject> {
  const p = await h.project({ catalog });
  for (const [c, amount] of Object.entries(balances)) {
    expect((await p.call('POST', `/v1/customers/${c}/credits/grant`, { amount, reason: 'seed' })).status).toBe(200);
  }
  return p;
}

describe('issue 16: group commit of deducts', () => {
  it('a hot customer with 5 credits and 10 deducts of 1 in one batch: the first 5 succeed with balances 4..0 in arrival order, the rest get 402, one batch', async () => {
    const p = await seeded({ hot: 5 });
    const { replies, batches } = await oneBatch(Array.from({ length: 10 }, (_v, i) => deduct(p, 'hot', { amount: 1, reason: `op ${i}` })));
    expect(batches).toBe(1);
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 402, 402, 402, 402, 402]);
    expect(replies.slice(0, 5).map((r) => r.body.balance)).toEqual([4, 3, 2, 1, 0]);
    for (const r of replies.slice(5)) {
      expect(r.body.error).toMatchObject({ code: 'insufficient_credits', balance: 0, required: 1 });
    }
    const l = await ledger(p, 'hot');
    expect(l.balance).toBe(0);
    // The entries are in arrival order, each the one its reply names.
    const debits = l.entries.filter((e) => e.amount < 0);
    expect(debits.map((e) => e.reason)).toEqual(['op 0', 'op 1', 'op 2', 'op 3', 'op 4']);
    expect(debits.map((e) => e.id)).toEqual(replies.slice(0, 5).map((r) => r.body.transaction_id));
    expect(debits.map((e) => e.balance_after)).toEqual([4, 3, 2, 1, 0]);
  });

  it('one failing op never fails the others: a short deduct between two that fit, across customers', async () => {
    const p = await seeded({ a: 5, b: 10 });
    const { replies, batches } = await oneBatch([deduct(p, 'a', { amount: 3 }), deduct(p, 'a', { amount: 3 }), deduct(p, 'b', { amount: 2 }), deduct(p, 'a', { amount: 2 })]);
    expect(batches).toBe(1);
    expect(replies.map((r) => r.status)).toEqual([200, 402, 200, 200]);
    expect(replies[1]!.body.error).toMatchObject({ code: 'insufficient_credits', balance: 2, required: 3, available: 2 });
    expect(replies.map((r) => r.body.balance ?? null)).toEqual([2, null, 8, 0]);
    expect((await ledger(p, 'a')).balance).toBe(0);
    expect((await ledger(p, 'b')).balance).toBe(8);
  });

  it("a hot customer's deducts in one batch are ONE update of its account row", async () => {
    const p = await seeded({ hot: 100 });
    const rowUpdates = async () =>
      Number(
        (await h.db.query<{ n: number }>("SELECT count(*)::int AS n FROM stream_changes WHERE project_id = $1 AND customer_id = 'hot'", [p.id])).rows[0]!.n,
      );
    // The stream logs changes only while the project holds a stream lease (migration 0037).
    await h.db.query("INSERT INTO stream_leases (project_id, id, expires_at) VALUES ($1, 'sl_test', now() + interval '5 minutes')", [p.id]);
    const before = await rowUpdates();
    const { replies } = await oneBatch(Array.from({ length: 8 }, () => deduct(p, 'hot', { amount: 1 })));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    // The stream trigger logs one row per statement that changed the account: 8 deducts, one statement.
    expect((await rowUpdates()) - before).toBe(1);
    expect((await ledger(p, 'hot')).balance).toBe(92);
  });

  it('the same Idempotency-Key twice in one batch: one effect, the twin replays it; the same key with another body: 409', async () => {
    const p = await seeded({ c: 10 });
    const { replies } = await oneBatch([
      deduct(p, 'c', { amount: 4 }, 'k-twin'),
      deduct(p, 'c', { amount: 4 }, 'k-twin'),
      deduct(p, 'c', { amount: 1 }, 'k-other'),
      deduct(p, 'c', { amount: 2 }, 'k-other'),
    ]);
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 409]);
    expect(replies[1]!.body).toEqual(replies[0]!.body);
    expect(replies[1]!.headers['idempotent-replayed']).toBe('true');
    expect(replies[0]!.headers['idempotent-replayed']).toBeUndefined();
    expect(replies[3]!.body.error.code).toBe('idempotency_conflict');
    const l = await ledger(p, 'c');
    expect(l.balance).toBe(5);
    expect(l.entries.filter((e) => e.amount < 0).map((e) => e.amount)).toEqual([-4, -1]);
    // Across batches: the stored reply comes back, with no second effect.
    const again = await deduct(p, 'c', { amount: 4 }, 'k-twin')();
    expect(again.status).toBe(200);
    expect(again.body).toEqual(replies[0]!.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect((await ledger(p, 'c')).balance).toBe(5);
  });

  it('a keyed deduct refused for want of credits leaves its key free, as a rolled-back request does', async () => {
    const p = await seeded({ c: 3 });
    const short = await deduct(p, 'c', { amount: 5 }, 'k-short')();
    expect(short.status).toBe(402);
    const keys = await h.db.query('SELECT 1 FROM idempotency_keys WHERE project_id = $1 AND key = $2', [p.id, 'k-short']);
    expect(keys.rowCount).toBe(0);
    await p.call('POST', '/v1/customers/c/credits/grant', { amount: 10, reason: 'more' });
    const ok = await deduct(p, 'c', { amount: 5 }, 'k-short')();
    expect(ok.status).toBe(200);
    expect(ok.body.balance).toBe(8);
  });

  it('a batch failing at the database answers each of its requests with an error and applies nothing of it', async () => {
    const p = await seeded({ a: 10, b: 10, c: 10 });
    await h.db.exec(`
      CREATE FUNCTION test_fail_boom() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.reason = 'boom' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER test_fail_boom BEFORE INSERT ON ledger_entries FOR EACH ROW EXECUTE FUNCTION test_fail_boom();`);
    try {
      const { replies, batches } = await oneBatch([
        deduct(p, 'a', { amount: 1 }, 'k-fail-a'),
        deduct(p, 'b', { amount: 1, reason: 'boom' }),
        deduct(p, 'c', { amount: 1 }),
      ]);
      expect(batches).toBe(1);
      expect(replies.map((r) => r.status)).toEqual([500, 500, 500]);
      for (const r of replies) expect(r.body.error.code).toBe('internal_error');
    } finally {
      await h.db.exec('DROP TRIGGER test_fail_boom ON ledger_entries; DROP FUNCTION test_fail_boom();');
    }
    for (const c of ['a', 'b', 'c']) {
      const l = await ledger(p, c);
      expect(l.balance).toBe(10);
      expect(l.entries).toHaveLength(1);
    }
    // The key was not left claimed: the same request now runs once.
    const retry = await deduct(p, 'a', { amount: 1 }, 'k-fail-a')();
    expect(retry.status).toBe(200);
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
    expect(retry.body.balance).toBe(9);
  });

  it('ops the batch cannot express take the unbatched path in the same batch: a new customer, expiring grants', async () => {
    const p = await seeded({ plain: 10 });
    const exp = new Date(h.clock.now().getTime() + 86_400_000).toISOString();
    await p.call('POST', '/v1/customers/expiring/credits/grant', { amount: 5, reason: 'soon', expires_at: exp });
    const { replies } = await oneBatch([
      deduct(p, 'plain', { amount: 1 }),
      deduct(p, 'expiring', { amount: 2 }, 'k-exp'),
      deduct(p, 'brand-new', { amount: 1 }),
    ]);
    expect(replies.map((r) => r.status)).toEqual([200, 200, 402]);
    expect(replies[1]!.body.balance).toBe(3);
    const grants = await h.db.query<{ remaining: number }>('SELECT remaining FROM credit_grants WHERE project_id = $1 AND customer_id = $2', [p.id, 'expiring']);
    expect(grants.rows.map((g) => Number(g.remaining))).toEqual([3]);
    expect((await h.db.query('SELECT 1 FROM customers WHERE project_id = $1 AND id = $2', [p.id, 'brand-new'])).rowCount).toBe(1);
    const replay = await deduct(p, 'expiring', { amount: 2 }, 'k-exp')();
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toEqual(replies[1]!.body);
  });

  it('low-balance and credits.deducted events come from the batch, one each per op, in arrival order', async () => {
    const p = await h.project({ catalog: { ...catalog, low_balance_threshold: 10 } });
    await p.call('POST', '/v1/customers/c/credits/grant', { amount: 12, reason: 'seed' });
    await h.db.query(`UPDATE projects SET settings = settings || '{"emit_credits_deducted": true}'::jsonb WHERE id = $1`, [p.id]);
    const { replies } = await oneBatch([deduct(p, 'c', { amount: 1 }), deduct(p, 'c', { amount: 1 }), deduct(p, 'c', { amount: 1 })]);
    expect(replies.map((r) => r.body.balance)).toEqual([11, 10, 9]);
    const events = await h.db.query<{ type: string; payload: { data: Record<string, unknown> } }>(
      "SELECT type, payload FROM outbox_events WHERE project_id = $1 AND type IN ('credits.deducted', 'credits.low_balance') ORDER BY seq",
      [p.id],
    );
    expect(events.rows.map((e) => [e.type, e.payload.data.balance])).toEqual([
      ['credits.deducted', 11],
      ['credits.low_balance', 10],
      ['credits.deducted', 10],
      ['credits.deducted', 9],
    ]);
    expect(events.rows[1]!.payload.data.threshold).toBe(10);
    expect(events.rows[0]!.payload.data).toEqual({ amount: 1, balance: 11, transaction_id: replies[0]!.body.transaction_id, reason: 'Deduct' });
  });

  it('200 concurrent deducts over 4 customers, each key sent twice: balances equal their ledgers, one effect per key', async () => {
    const p = await seeded({ a: 60, b: 60, c: 60, d: 60 });
    const customers = ['a', 'b', 'c', 'd'];
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_v, i) => {
        const n = i % 100;
        return deduct(p, customers[n % 4]!, { amount: 1 + (n % 3) }, `k-${n}`)();
      }),
    );
    expect(replies.filter((r) => r.status !== 200)).toEqual([]);
    for (let n = 0; n < 100; n++) expect(replies[n + 100]!.body).toEqual(replies[n]!.body);
    let spent = 0;
    for (const c of customers) spent += 60 - (await ledger(p, c)).balance;
    const entries = await h.db.query<{ n: number; s: number }>(
      "SELECT count(*)::int AS n, coalesce(-sum(amount), 0)::bigint AS s FROM ledger_entries WHERE project_id = $1 AND kind = 'deduct'",
      [p.id],
    );
    expect(entries.rows[0]!.n).toBe(100);
    expect(Number(entries.rows[0]!.s)).toBe(spent);
    expect(new Set(replies.map((r) => r.body.transaction_id)).size).toBe(100);
  });
});

describe('issue 16: every acknowledged deduct survives a crash mid-batch', () => {
  it('SIGKILL of a server under keyed deduct load: after restart every 200 is in the ledger, once, and balances equal their ledgers', async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    let env: Record<string, string>;
    let dir: string | undefined;
    let url: string | undefined;
    if (process.env.DATABASE_URL) {
      const schema = `t_${randomToken(12).toLowerCase()}`;
      const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await admin.connect();
      await admin.query(`CREATE SCHEMA ${schema}`);
      await admin.end();
      const scoped = new URL(process.env.DATABASE_URL);
      scoped.searchParams.set('options', `-c search_path=${schema}`);
      url = scoped.toString();
      env = { DATABASE_URL: url };
    } else {
      dir = mkdtempSync(join(tmpdir(), 'tollgate-crash-'));
      env = { DATABASE_URL: '', TOLLGATE_DATA_DIR: dir };
    }
    const open = () => (url ? openDb({ databaseUrl: url }) : openDb({ dataDir: `${dir}/pgdata` }));
    let db = await open();
    await migrate(db);
    const ctx = { db, config: testConfig(), clock: systemClock, log: pino({ level: 'silent' }), registry: defaultRegistry() } as unknown as AppContext;
    const { secretKey } = await createProject(ctx, { id: 'crash', name: 'Crash' });
    await db.exec(`
      INSERT INTO customers (project_id, id, created_at, updated_at) SELECT 'crash', 'c' || g, now(), now() FROM generate_series(0, 9) g;
      INSERT INTO credit_accounts (project_id, customer_id, balance) SELECT 'crash', 'c' || g, 100000 FROM generate_series(0, 9) g;
      INSERT INTO ledger_entries (id, project_id, customer_id, amount, balance_after, kind, created_at)
        SELECT 'led_seed_' || g, 'crash', 'c' || g, 100000, 100000, 'grant', now() FROM generate_series(0, 9) g;`);
    await db.close();

    const { DATABASE_URL: _d, ...parent } = process.env;
    const server: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], {
      env: {
        ...parent,
        ...env,
        TOLLGATE_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
        TOLLGATE_DEMO: 'false',
        TOLLGATE_RUNNER_INTERVAL_MS: '0',
        LOG_LEVEL: 'silent',
        PORT: String(port),
        HOST: '127.0.0.1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise((resolve) => server.once('exit', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        let out = '';
        server.stdout!.on('data', (d) => {
          out += String(d);
          if (out.includes('Tollgate is running')) resolve();
        });
        server.stderr!.on('data', (d) => {
          out += String(d);
        });
        server.once('exit', (code) => reject(new Error(`server exited (${code}): ${out}`)));
      });
      const acked: { key: string; customer: string; tx: string; balance: number }[] = [];
      let n = 0;
      let killed = false;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (!killed && n < 4000) {
            const key = `crash-${n++}`;
            const customer = `c${n % 10}`;
            try {
              const r = await fetch(`http://127.0.0.1:${port}/v1/customers/${customer}/credits/deduct`, {
                method: 'POST',
                headers: { authorization: `Bearer ${secretKey.key}`, 'content-type': 'application/json', 'idempotency-key': key },
                body: JSON.stringify({ amount: 1 }),
              });
              const body = (await r.json()) as { transaction_id: string; balance: number };
              if (r.status !== 200 && process.env.CRASH_LOG) console.log(r.status, body);
              if (r.status === 200) acked.push({ key, customer, tx: body.transaction_id, balance: body.balance });
              if (acked.length >= 200 && !killed) {
                killed = true;
                server.kill('SIGKILL'); // while the other 15 clients' deducts are queued or in flight
              }
            } catch {
              return; // the server is gone
            }
          }
        }),
      );
      await exited;
      expect(acked.length).toBeGreaterThanOrEqual(200);

      db = await open();
      const entries = await db.query<{ id: string; customer_id: string; balance_after: number }>(
        "SELECT id, customer_id, balance_after FROM ledger_entries WHERE project_id = 'crash' AND kind = 'deduct'",
      );
      const byId = new Map(entries.rows.map((e) => [e.id, e]));
      for (const a of acked) {
        const e = byId.get(a.tx);
        expect(e, a.key).toBeDefined();
        expect(e!.customer_id).toBe(a.customer);
        expect(Number(e!.balance_after)).toBe(a.balance);
      }
      const keys = await db.query<{ key: string; response: { transaction_id: string } }>(
        "SELECT key, response FROM idempotency_keys WHERE project_id = 'crash' AND status_code = 200",
      );
      const stored = new Map(keys.rows.map((k) => [k.key, k.response.transaction_id]));
      for (const a of acked) expect(stored.get(a.key)).toBe(a.tx);
      // No effect without its stored reply, none without its entry: the batch is all or nothing.
      expect(keys.rowCount).toBe(entries.rowCount);
      const drift = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM credit_accounts a
         WHERE project_id = 'crash' AND balance <> (SELECT sum(amount) FROM ledger_entries l WHERE l.project_id = a.project_id AND l.customer_id = a.customer_id)`,
      );
      expect(drift.rows[0]!.n).toBe(0);
      await db.close();
    } finally {
      if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
