import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import initSqlJs from 'sql.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import type { CatalogInput } from '../src/domain/catalog.ts';
import { type ApplyBatch, type FileImportOptions, importFile } from '../src/modules/imports/imports.cli.ts';
import type { FileShape } from '../src/modules/imports/imports.parse.ts';
import { randomToken } from '../src/domain/ids.ts';
import { bindingsFromEnv } from '../src/modules/imports/price-bindings.service.ts';
import { importStripe } from '../src/modules/stripe/stripe.import.ts';
import { Stripe } from '../src/providers/stripe/stripe.client.ts';
import { LocalStripe, stripeSignature } from './support/stripe-server.ts';
import { createHarness, type Harness, TEST_ENCRYPTION_KEY, type TestProject } from './support/harness.ts';

/**
 * Issue 15, "moving in what the products already have": each shape the products kept, as a file
 * made here, imported twice (nothing doubled, the balances reconcile with the ledger), a dry run
 * that writes nothing, bad rows reported by row number, and no sign-up credits or default trial
 * for anyone imported. The CLI is driven as a user would, through a running server and in process.
 */

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'tollgate-import-'));
let h: Harness;
let url: string;

// IAcompagnon's plans and 14-day Premium trial for every new customer, plus AurisVoice's 10 sign-up credits.
const CATALOG: CatalogInput = { ...structuredClone(DEMO_CATALOGS.iacompagnon!.catalog), signup_credits: 10 };

let stripe: LocalStripe;

beforeAll(async () => {
  stripe = await new LocalStripe().start();
  h = await createHarness({ config: { stripeApiBase: stripe.url } });
  stripe.now = () => Math.floor(h.clock.now().getTime() / 1000);
  url = await h.listen();
});
afterAll(async () => {
  await h?.close();
  await stripe?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Row count and checksum of every table of the schema under test. */
/** Every table's rows, leaving out a key's last use (access telemetry, written after any request: docs/dashboard.md). */
async function snapshot(except: string[] = []): Promise<Record<string, string>> {
  const tables = await h.db.query<{ t: string }>(
    `SELECT table_name AS t FROM information_schema.tables
     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1`,
  );
  const out: Record<string, string> = {};
  for (const { t } of tables.rows) {
    if (except.includes(t)) continue;
    const r = await h.db.query<{ n: number; sum: string | null }>(
      `SELECT COUNT(*)::int AS n, md5(COALESCE(string_agg((to_jsonb(x) - 'last_used_at')::text, '|' ORDER BY (to_jsonb(x) - 'last_used_at')::text), '')) AS sum FROM "${t}" x`,
    );
    out[t] = `${r.rows[0]?.n}:${r.rows[0]?.sum}`;
  }
  return out;
}

const env = (extra: Record<string, string> = {}) => ({
  ...process.env,
  TOLLGATE_DATA_DIR: join(dir, 'data'),
  TOLLGATE_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
  LOG_LEVEL: 'silent',
  ...extra,
});
/** The CLI entry as a user runs it (each run is a process: ~5 s here, so few of them). */
const cli = (args: string[], extra: Record<string, string> = {}): Promise<{ stdout: string; stderr: string; code: number }> =>
  run(process.execPath, ['bin/tollgate.js', ...args], { env: env(extra), timeout: 90_000 }).then(
    (r) => ({ ...r, code: 0 }),
    (e: { stdout: string; stderr: string; code: number }) => ({ stdout: e.stdout, stderr: e.stderr, code: e.code }),
  );

/** What the CLI does with a file (read, check, batch, sum up), its batches sent to the API of the server under test. */
function importVia(p: TestProject, shape: FileShape, file: string, opts: Partial<FileImportOptions> = {}) {
  const apply: ApplyBatch = async (s, body) => {
    const r = await p.call('POST', `/v1/imports/${s}`, body);
    if (r.status !== 200) throw new Error(`import refused: ${r.raw}`);
    return r.body;
  };
  return importFile({ shape, file, dryRun: false, json: false, via: 'through the API', project: p.id, ...opts }, apply);
}

async function ledgerSum(projectId: string, customerId: string): Promise<{ n: number; sum: number; kinds: string[] }> {
  const r = await h.db.query<{ n: number; sum: string; kinds: string[] | null }>(
    `SELECT count(*)::int AS n, COALESCE(SUM(amount), 0)::text AS sum, array_agg(DISTINCT kind) AS kinds
     FROM ledger_entries WHERE project_id = $1 AND customer_id = $2`,
    [projectId, customerId],
  );
  return { n: r.rows[0]!.n, sum: Number(r.rows[0]!.sum), kinds: r.rows[0]!.kinds ?? [] };
}
const countRows = async (table: string, projectId: string) =>
  (await h.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE project_id = $1`, [projectId])).rows[0]!.n;

// AurisVoice's credits.json: per-customer balances with their last transactions, and the global form.
const CREDITS = {
  customers: [
    {
      user_id: 'u-anna',
      email: 'anna@example.com',
      balance: 42,
      transactions: [
        { id: 't1', type: 'purchase', credits: 60, date: '2026-01-10T09:00:00Z' },
        { id: 't2', type: 'usage', credits: 20, date: '2026-01-12T09:00:00Z' },
        { id: 't3', type: 'usage', credits: 8, date: '2026-02-01T09:00:00Z' },
      ],
    },
    { user_id: 'u-ben', balance: 15 },
    { user_id: 'u-bad', balance: -3 },
    { user_id: 'u-zero', balance: 0, transactions: [] },
  ],
};

describe('credits-json', () => {
  let p: TestProject;
  beforeAll(async () => {
    p = await h.project({ catalog: CATALOG });
  });

  it('imports balances with their history through the CLI and a running server, twice: the ledger ends at each balance, nothing doubled, no sign-up credits or trial; the bad row is reported', async () => {
    const file = join(dir, 'credits.json');
    writeFileSync(file, JSON.stringify(CREDITS));
    const args = ['import', 'credits-json', file, '--url', url, '--key', p.key, '--json'];

    const first = await cli(args);
    const r1 = JSON.parse(first.stdout);
    expect(first.code).toBe(2); // one invalid row; the rest is imported
    expect(r1.counts).toEqual({ seen: 4, new: 3, unchanged: 0, skipped: 1, invalid: 1 });
    expect(r1.problems).toEqual([{ row: 3, source_id: null, reason: 'invalid: balance: Too small: expected number to be >=0' }]);
    expect(r1.totals).toEqual({ balances: 57, ledger_entries: 57, transactions_replayed: 3 });
    expect(r1.reconciliation).toEqual({ imported_balances: 57, opening_entries: 57, balanced: true });
    expect(r1.via).toBe(`through the server at ${url}`);

    // Anna: an opening entry for what she held before the history (42 - 60 + 20 + 8 = 10), then the history.
    const anna = await p.call('GET', '/v1/customers/u-anna/credits/transactions?limit=10');
    expect(anna.status).toBe(200);
    expect(anna.body.data.map((t: { amount: number; balance_after: number }) => [t.amount, t.balance_after])).toEqual([
      [-8, 42],
      [-20, 50],
      [60, 70],
      [10, 10],
    ]);
    const annaView = await p.call('GET', '/v1/customers/u-anna');
    expect(annaView.body.email).toBe('anna@example.com');
    expect(annaView.body.balance).toBe(42);
    expect((await p.call('GET', '/v1/customers/u-anna/subscription')).body.status).toBe('free'); // no default Premium trial
    expect(await ledgerSum(p.id, 'u-ben')).toEqual({ n: 1, sum: 15, kinds: ['import'] });
    expect(await ledgerSum(p.id, 'u-zero')).toEqual({ n: 0, sum: 0, kinds: [] });
    expect(await countRows('subscriptions', p.id)).toBe(0);

    // The second run's batch keeps its own Idempotency-Key record; nothing else changes.
    const before = await snapshot(['idempotency_keys']);
    const second = JSON.parse((await cli(args)).stdout);
    expect(second.counts).toEqual({ seen: 4, new: 0, unchanged: 3, skipped: 1, invalid: 1 });
    expect(second.totals).toEqual({});
    expect(second.reconciliation).toEqual({ imported_balances: 57, opening_entries: 57, balanced: true });
    expect(await snapshot(['idempotency_keys'])).toEqual(before);

    // Changed in the source since: reported, never applied a second time.
    const res = await p.call('POST', '/v1/imports/credits', { rows: [{ customer_id: 'u-ben', balance: 99 }] });
    expect(res.status).toBe(200);
    expect(res.body.rows[0]).toMatchObject({ outcome: 'skipped', customer_id: 'u-ben' });
    expect(res.body.rows[0].reason).toContain('changed in the source since');
    expect(await ledgerSum(p.id, 'u-ben')).toEqual({ n: 1, sum: 15, kinds: ['import'] });
  }, 60_000);

  it("AurisVoice's one global balance belongs to the customer named by --customer; without it the import says so", async () => {
    const file = join(dir, 'global-credits.json');
    writeFileSync(file, JSON.stringify({ balance: 130, transactions: [{ amount: 150, type: 'purchase', timestamp: 1767225600 }, { amount: 20, type: 'deduct', timestamp: 1767312000 }] }));
    await expect(importVia(p, 'credits-json', file)).rejects.toThrow(`${file} holds one global balance (no customers): say whose it is with --customer <id>`);
    const ok = await importVia(p, 'credits-json', file, { customer: 'owner' });
    expect(ok.code).toBe(0);
    expect(ok.text).toContain('rows seen 1: new 1, unchanged 0, skipped 0');
    expect(ok.text).toContain('this run: balances 130 = ledger entries 130 (2 transaction(s) replayed)');
    expect(ok.text).toContain(`project ${p.id}: imported balances 187 = opening ledger entries 187 — reconciles`);
    expect(await ledgerSum(p.id, 'owner')).toEqual({ n: 2, sum: 130, kinds: ['import'] });
    const history = await p.call('GET', '/v1/customers/owner/credits/transactions');
    expect(history.body.data.map((t: { amount: number; created_at: string }) => [t.amount, t.created_at])).toEqual([
      [-20, '2026-01-02T00:00:00.000Z'],
      [150, '2026-01-01T00:00:00.000Z'],
    ]);
  });
});

describe('dry runs and bad input', () => {
  it('a dry run reports exactly what the import would do and writes nothing (every table)', async () => {
    const p = await h.project({ catalog: CATALOG });
    const rows = [
      { customer_id: 'd-1', balance: 5 },
      { customer_id: 'd-2', balance: 7, transactions: [{ amount: 7 }] },
    ];
    const before = await snapshot();
    const dry = await p.call('POST', '/v1/imports/credits', { rows, dry_run: true });
    expect(dry.status).toBe(200);
    expect(dry.body.counts).toEqual({ seen: 2, new: 2, unchanged: 0, skipped: 0 });
    expect(dry.body.reconciliation).toEqual({ imported_balances: 12, opening_entries: 12, balanced: true });
    expect(await snapshot()).toEqual(before);
    expect((await p.call('GET', '/v1/customers/d-1')).status).toBe(404);

    const real = await p.call('POST', '/v1/imports/credits', { rows }, { 'idempotency-key': 'credits-batch-1' });
    expect({ ...real.body, dry_run: true }).toEqual(dry.body);
    const replay = await p.call('POST', '/v1/imports/credits', { rows }, { 'idempotency-key': 'credits-batch-1' });
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toEqual(real.body);
    expect((await p.call('GET', '/v1/customers/d-1')).body.balance).toBe(5);
  });

  it('a malformed batch is a 400 naming the row and field, and changes nothing', async () => {
    const p = await h.project({ catalog: CATALOG });
    const before = await snapshot();
    const bad = await p.call('POST', '/v1/imports/payments', {
      rows: [
        { source_id: 'ok', amount: 500, currency: 'eur', created_at: '2026-01-01T00:00:00Z', status: 'paid' },
        { source_id: 'x', amount: 9.99, currency: 'eur', created_at: '2026-01-01T00:00:00Z', status: 'paid' },
      ],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_request');
    expect(bad.body.error.message).toContain('rows.1.amount');
    expect(await snapshot()).toEqual(before);
    const empty = await p.call('POST', '/v1/imports/customers', { rows: [] });
    expect(empty.status).toBe(400);
  });
});

describe('payments (JSON and CSV)', () => {
  it('imports past payments with refunds for revenue history, twice: nothing doubled; bad rows reported by line', async () => {
    const p = await h.project({ catalog: CATALOG });
    const json = join(dir, 'payments.json');
    writeFileSync(
      json,
      JSON.stringify([
        { id: 'pay-1', email: 'Anna@Example.com', amount: 1500, currency: 'EUR', date: '2026-01-05', status: 'succeeded', provider: 'stripe', payment_intent: 'pi_old1' },
        { id: 'pay-2', email: 'anna@example.com', amount: 3000, currency: 'eur', date: '2026-01-20', status: 'refunded', provider: 'stripe', payment_intent: 'pi_old2' },
        { id: 'pay-3', customer: 'u-carl', amount: 500, currency: 'eur', date: '2026-02-02', status: 'paid', refunded: 200 },
      ]),
    );
    const csv = join(dir, 'payments.csv');
    writeFileSync(
      csv,
      [
        'Payment ID,Customer Email,Amount Cents,Currency,Paid At,Status,Refunded',
        'csv-1,dora@example.com,999,eur,2026-02-10 12:00:00,completed,0',
        'csv-2,dora@example.com,12.50,eur,2026-02-11 12:00:00,completed,0',
        'csv-3,dora@example.com,999,eur,2026-02-12 12:00:00,lost,0',
      ].join('\n'),
    );
    const map = 'source_id=Payment ID,email=Customer Email,amount=Amount Cents,created_at=Paid At,amount_refunded=Refunded';
    const a1 = await importVia(p, 'payments', json);
    expect(a1.data.counts).toEqual({ seen: 3, new: 3, unchanged: 0, skipped: 0, invalid: 0 });
    expect(a1.data.totals).toEqual({ amount_eur: 5000, refunded_eur: 3200 });
    expect(a1.text).toContain('this run: EUR 5000 paid, 3200 refunded (minor units)');
    const c1 = await importVia(p, 'payments', csv, { map });
    expect(c1.code).toBe(2);
    expect(c1.text).toContain('rows seen 3: new 1, unchanged 0, skipped 2 (2 invalid)');
    expect(c1.text).toContain('row 3 (csv-2): invalid: amount: ');
    expect(c1.text).toMatch(/row 4 \(csv-3\): invalid: status: must be one of/);

    const payments = await h.db.query<{ provider: string; provider_ref: string; amount: string; amount_refunded: string; status: string; customer_id: string; created_at: Date }>(
      'SELECT provider, provider_ref, amount::text, amount_refunded::text, status, customer_id, created_at FROM payments WHERE project_id = $1 ORDER BY created_at',
      [p.id],
    );
    expect(payments.rows.map((r) => [r.provider, r.provider_ref, Number(r.amount), Number(r.amount_refunded), r.status, r.customer_id, new Date(r.created_at).toISOString()])).toEqual([
      ['stripe', 'pi_old1', 1500, 0, 'succeeded', 'anna@example.com', '2026-01-05T00:00:00.000Z'],
      ['stripe', 'pi_old2', 3000, 3000, 'refunded', 'anna@example.com', '2026-01-20T00:00:00.000Z'],
      ['import', 'pay-3', 500, 200, 'partially_refunded', 'u-carl', '2026-02-02T00:00:00.000Z'],
      ['import', 'csv-1', 999, 0, 'succeeded', 'dora@example.com', '2026-02-10T12:00:00.000Z'],
    ]);
    // The imported customers got no sign-up credits; the payments show in the customer's history.
    expect((await p.call('GET', '/v1/customers/anna@example.com')).body.balance).toBe(0);
    expect(await countRows('ledger_entries', p.id)).toBe(0);

    const before = await snapshot();
    const a2 = await importVia(p, 'payments', json);
    expect(a2.data.counts).toEqual({ seen: 3, new: 0, unchanged: 3, skipped: 0, invalid: 0 });
    expect((await importVia(p, 'payments', csv, { map })).text).toContain('rows seen 3: new 0, unchanged 1, skipped 2 (2 invalid)');
    expect(await snapshot()).toEqual(before);
  });
});

async function usersDb(file: string): Promise<void> {
  const require = createRequire(import.meta.url);
  const SQL = await initSqlJs({ locateFile: (f: string) => require.resolve(`sql.js/dist/${f}`) });
  const db = new SQL.Database();
  db.run(`CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, stripe_customer_id TEXT, plan TEXT, trial_end TEXT, subscription_status TEXT)`);
  const rows: [string, string | null, string | null, string | null, string | null][] = [
    ['trial@example.com', null, 'premium', '2026-03-10 10:00:00', 'trialing'],
    ['paying@example.com', 'cus_Paying1', 'Standard', null, 'active'],
    ['late@example.com', null, 'basique', null, 'past_due'],
    ['gone@example.com', null, 'premium', null, 'canceled'],
    ['free@example.com', null, null, null, null],
    ['wrong@example.com', null, 'gold', null, 'active'],
  ];
  for (const r of rows) db.run('INSERT INTO users (email, stripe_customer_id, plan, trial_end, subscription_status) VALUES (?, ?, ?, ?, ?)', r);
  writeFileSync(file, db.export());
  db.close();
}

describe('sqlite users table', () => {
  it('imports IAcompagnon/ArkWatch users with their subscription state bound to catalog plans, twice; a dry run (CLI) first writes nothing', async () => {
    const p = await h.project({ catalog: CATALOG });
    const file = join(dir, 'app.db');
    await usersDb(file);
    const before = await snapshot();
    const dry = await cli(['import', 'sqlite', file, '--dry-run', '--url', url, '--key', p.key]);
    expect(dry.stdout).toContain('Dry run (nothing written)');
    expect(dry.stdout).toContain('rows seen 6: new 5, unchanged 0, skipped 1');
    expect(dry.stdout).toContain("row 6 (users:6): unknown plan 'gold' (catalog plans: basique, standard, premium)");
    expect(await snapshot()).toEqual(before);

    const first = await importVia(p, 'sqlite', file);
    expect(first.data.counts).toEqual({ seen: 6, new: 5, unchanged: 0, skipped: 1, invalid: 0 });
    expect(first.data.totals).toEqual({ customers_created: 5, subscriptions_trialing: 1, subscriptions_active: 1, subscriptions_past_due: 1, subscriptions_canceled: 1 });

    const sub = async (c: string) => (await p.call('GET', `/v1/customers/${c}/subscription`)).body;
    expect(await sub('trial@example.com')).toMatchObject({ plan: 'premium', status: 'trialing', trial_end: '2026-03-10T10:00:00.000Z' });
    expect(await sub('paying@example.com')).toMatchObject({ plan: 'standard', status: 'active' });
    expect(await sub('late@example.com')).toMatchObject({ plan: 'basique', status: 'past_due' });
    expect(await sub('gone@example.com')).toMatchObject({ previous_plan: 'premium', status: 'canceled' });
    // No default Premium trial for the user who had none, and no sign-up credits for anyone.
    expect(await sub('free@example.com')).toMatchObject({ plan: null, status: 'free' });
    expect(await countRows('ledger_entries', p.id)).toBe(0);
    expect(await countRows('subscriptions', p.id)).toBe(4);
    const link = await h.db.query<{ customer_id: string }>(`SELECT customer_id FROM provider_customers WHERE project_id = $1 AND provider = 'stripe' AND ref = 'cus_Paying1'`, [p.id]);
    expect(link.rows).toEqual([{ customer_id: 'paying@example.com' }]);
    expect(await countRows('payments', p.id)).toBe(0);

    const mid = await snapshot();
    const again = await importVia(p, 'sqlite', file);
    expect(again.data.counts).toEqual({ seen: 6, new: 0, unchanged: 5, skipped: 1, invalid: 0 });
    expect(await snapshot()).toEqual(mid);
  }, 60_000);
});

describe('customers-csv', () => {
  it('imports customers with a column mapping, twice; no sign-up credits and no default trial', async () => {
    const p = await h.project({ catalog: CATALOG });
    const file = join(dir, 'customers.csv');
    writeFileSync(file, ['Full Name,Email,user_id,Company', 'Eve Martin,eve@example.com,42,Acme', '"Lee, Sam",sam@example.com,43,', 'No Mail,,,'].join('\n'));
    const map = 'email=Email,name=Full Name,external_id=user_id,metadata.company=Company';
    const first = await importVia(p, 'customers-csv', file, { map });
    expect(first.code).toBe(2);
    expect(first.text).toContain('rows seen 3: new 2, unchanged 0, skipped 1 (1 invalid)');
    expect(first.text).toContain('row 4: invalid: email: needs an e-mail or an external id');
    const eve = (await p.call('GET', '/v1/customers/42')).body;
    expect(eve).toMatchObject({ id: '42', email: 'eve@example.com', name: 'Eve Martin', metadata: { company: 'Acme' }, balance: 0 });
    expect((await p.call('GET', '/v1/customers/42/subscription')).body.status).toBe('free');
    expect((await p.call('GET', '/v1/customers/43')).body.name).toBe('Lee, Sam');
    expect(await countRows('subscriptions', p.id)).toBe(0);
    expect(await countRows('ledger_entries', p.id)).toBe(0);
    const before = await snapshot();
    expect((await importVia(p, 'customers-csv', file, { map })).text).toContain('rows seen 3: new 0, unchanged 2, skipped 1 (1 invalid)');
    expect(await snapshot()).toEqual(before);
    // An erased customer's import record goes with its personal data, and a later run does not bring the customer back.
    expect((await p.call('DELETE', '/v1/customers/42')).status).toBe(200);
    expect((await h.db.query('SELECT 1 FROM import_records WHERE project_id = $1 AND customer_id = $2', [p.id, '42'])).rows).toEqual([]);
    expect((await importVia(p, 'customers-csv', file, { map })).text).toContain("row 2 (42): customer '42' was erased; not recreated");
    await expect(importVia(p, 'customers-csv', file, { map: 'email' })).rejects.toThrow("--map: 'email' is not field=column (e.g. --map email=Email,name=Full Name)");
  });
});

describe('the CLI in this process', () => {
  it('imports without a server (on its own database); with a server holding the embedded database it refuses with exit 4 and says how to go through it', async () => {
    const id = `imp-${Date.now().toString(36)}`;
    expect((await cli(['projects', 'create', 'Import Co', '--id', id])).code).toBe(0);
    const file = join(dir, 'cli-customers.csv');
    writeFileSync(file, ['email,name', 'one@example.com,One', 'two@example.com,Two'].join('\n'));
    const first = await cli(['import', 'customers-csv', file, '--project', id]);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`import customers-csv from ${file} into ${id} in this process`);
    expect(first.stdout).toContain('rows seen 2: new 2, unchanged 0, skipped 0');

    // A live process holds the data directory (this test runner's pid): the import does not open it.
    const data = join(dir, 'held');
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, 'tollgate.lock'), JSON.stringify({ pid: process.pid, port: 4242 }));
    const { DATABASE_URL: _, ...embedded } = env({ TOLLGATE_DATA_DIR: data }) as NodeJS.ProcessEnv;
    const held = await run(process.execPath, ['bin/tollgate.js', 'import', 'customers-csv', file, '--project', id], { env: embedded, timeout: 90_000 }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(held.code).toBe(4);
    expect(held.stderr.trim()).toBe(
      `the embedded database in ${data} is in use by a running Tollgate (pid ${process.pid}); import through it: --url http://127.0.0.1:4242 --key <secret key> (or TOLLGATE_URL and TOLLGATE_API_KEY)`,
    );
  }, 90_000);
});

/** A project connected to the local Stripe server (its own secret key and webhook secret), and the Stripe SDK on that key. */
async function stripeProject(catalog: CatalogInput) {
  const p = await h.project({ catalog });
  const sk = `sk_test_${p.id.replace(/-/g, '_')}_${randomToken(8)}`;
  const whsec = `whsec_${randomToken(32)}`;
  expect((await p.call('PUT', '/v1/providers/stripe', { secret_key: sk, webhook_secrets: [whsec], default: true })).status).toBe(200);
  const local = new URL(stripe.url);
  const sdk = new Stripe(sk, { host: local.hostname, port: Number(local.port), protocol: 'http' });
  return { p, sk, whsec, sdk };
}

describe('tollgate import stripe: existing prices and Payment Links', () => {
  it('imported Stripe customers get no sign-up credits or default trial; a subscription on a bound STRIPE_PRICE_* keeps its plan; an adopted Payment Link credits its buyer', async () => {
    const catalog: CatalogInput = { ...structuredClone(CATALOG), credit_packs: [{ id: 'starter', name: 'Starter', credits: 15, price: { amount: 500, currency: 'eur' } }] };
    const { p, sk, whsec, sdk } = await stripeProject(catalog);

    // What the product made at Stripe before Tollgate: prices without lookup keys (its STRIPE_PRICE_* ids),
    // a customer paying Standard monthly, and a Payment Link for the Starter pack.
    const standard = await sdk.prices.create({ product: (await sdk.products.create({ name: 'Standard' })).id, unit_amount: 999, currency: 'eur', recurring: { interval: 'month' } });
    const starter = await sdk.prices.create({ product: (await sdk.products.create({ name: 'Starter' })).id, unit_amount: 500, currency: 'eur' });
    const cus = await sdk.customers.create({ email: 'paying@example.com' });
    const cs = await sdk.checkout.sessions.create({ mode: 'subscription', customer: cus.id, line_items: [{ price: standard.id, quantity: 1 }], success_url: 'https://app.example.com/ok' });
    stripe.completeCheckout(sk, cs.id);
    const link = await sdk.paymentLinks.create({ line_items: [{ price: starter.id, quantity: 1 }] });
    expect(link.url).toMatch(/^https:\/\/buy\.stripe\.com\/test_/);

    // The env vars the product kept name the prices (tollgate import stripe reads them; --bind-prices does the same).
    const env = { STRIPE_PRICE_STANDARD: standard.id, STRIPE_PRICE_STARTER: starter.id, STRIPE_PRICE_GOLD: 'price_unknown' };
    const bindings = bindingsFromEnv(env, { plans: catalog.plans ?? [], credit_packs: catalog.credit_packs ?? [] });
    expect(bindings).toEqual([
      { price: standard.id, plan: 'standard' },
      { price: starter.id, pack: 'starter' },
    ]);
    const wrong = await p.call('POST', '/v1/providers/stripe/price-bindings', { bindings: [{ price: standard.id, plan: 'gold' }] });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.message).toBe("bindings.0: no plan 'gold' in the catalog");
    const bound = await p.call('POST', '/v1/providers/stripe/price-bindings', { bindings });
    expect(bound.status).toBe(200);
    expect(bound.body.changed).toBe(2);
    expect(bound.body.data.map((b: { price: string; kind: string; item_id: string }) => [b.kind, b.item_id, b.price])).toEqual([
      ['pack', 'starter', starter.id],
      ['plan', 'standard', standard.id],
    ]);

    const monthly = await sdk.paymentLinks.create({ line_items: [{ price: standard.id, quantity: 1 }] });
    const first = await importStripe(h.tg.ctx, p.id);
    expect(first).toMatchObject({ customers: { seen: 1, imported: 1 }, payment_links: { seen: 2, adopted: 2 }, subscriptions: { seen: 1, applied: 1 } });
    const paying = await p.call('GET', '/v1/customers/paying@example.com');
    expect(paying.body.balance).toBe(0); // no sign-up credits
    expect(await ledgerSum(p.id, 'paying@example.com')).toEqual({ n: 0, sum: 0, kinds: [] });
    expect((await p.call('GET', '/v1/customers/paying@example.com/subscription')).body).toMatchObject({ plan: 'standard', status: 'active' });
    // Only the Stripe subscription: no default Premium trial was started next to it.
    const subs = await h.db.query<{ plan_id: string; provider: string }>('SELECT plan_id, provider FROM subscriptions WHERE project_id = $1', [p.id]);
    expect(subs.rows).toEqual([{ plan_id: 'standard', provider: 'stripe' }]);

    const second = await importStripe(h.tg.ctx, p.id);
    expect(second).toMatchObject({ customers: { seen: 1, imported: 0 }, payment_links: { seen: 2, adopted: 0 }, subscriptions: { seen: 1, applied: 0 } });

    // A buyer pays through the adopted link: Stripe's webhook credits them with the Starter pack.
    const deliver = async (event: Record<string, unknown>) => {
      const body = JSON.stringify(event);
      const t = Math.floor(h.clock.now().getTime() / 1000);
      const res = await h.inject({
        method: 'POST',
        url: `/v1/webhooks/stripe/${p.id}`,
        headers: { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, whsec, t) },
        payload: body,
      });
      expect(res.status).toBe(200);
      return res.body;
    };
    const completed = stripe.payThroughLink(sk, link.id, { email: 'Buyer@Example.com' }).find((e) => e.type === 'checkout.session.completed')!;
    expect(completed.data.object.payment_link).toBe(link.id);
    expect((await deliver(completed)).status).toBe('processed');
    const buyer = await p.call('GET', '/v1/customers/buyer@example.com/credits/transactions');
    expect(buyer.status).toBe(200);
    expect(buyer.body.data.map((e: { amount: number; kind: string }) => [e.kind, e.amount])).toEqual([
      ['purchase', 15],
      ['signup', 10], // a new customer signing up through the link, not an imported one
    ]);
    const paid = await h.db.query<{ amount: string; kind: string; item_id: string }>('SELECT amount::text, kind, item_id FROM payments WHERE project_id = $1 AND customer_id = $2', [p.id, 'buyer@example.com']);
    expect(paid.rows).toEqual([{ amount: '500', kind: 'credit_pack', item_id: 'starter' }]);

    // Through the monthly link: Stripe's subscription is the buyer's Standard plan, billed at Stripe.
    const events = stripe.payThroughLink(sk, monthly.id, { email: 'monthly@example.com' });
    for (const type of ['checkout.session.completed', 'customer.subscription.created']) await deliver(events.find((e) => e.type === type)!);
    expect((await p.call('GET', '/v1/customers/monthly@example.com/subscription')).body).toMatchObject({ plan: 'standard', status: 'active' });
  });

  it('a Payment Link of several prices binds each to its pack (the buyer gets every line); one with an unbound price is refused, naming it', async () => {
    const catalog: CatalogInput = {
      ...structuredClone(CATALOG),
      credit_packs: [
        { id: 'starter', name: 'Starter', credits: 15, price: { amount: 500, currency: 'eur' } },
        { id: 'bulk', name: 'Bulk', credits: 100, price: { amount: 2500, currency: 'eur' } },
      ],
    };
    const { p, sk, whsec, sdk } = await stripeProject(catalog);
    const price = async (name: string, amount: number, recurring?: boolean) =>
      sdk.prices.create({ product: (await sdk.products.create({ name })).id, unit_amount: amount, currency: 'eur', ...(recurring ? { recurring: { interval: 'month' as const } } : {}) });
    const starter = await price('Starter', 500);
    const bulk = await price('Bulk', 2500);
    const stray = await price('Sticker', 300);
    const standard = await price('Standard', 999, true);
    const bound = await p.call('POST', '/v1/providers/stripe/price-bindings', {
      bindings: [
        { price: starter.id, pack: 'starter' },
        { price: bulk.id, pack: 'bulk' },
        { price: standard.id, plan: 'standard' },
      ],
    });
    expect(bound.status, bound.raw).toBe(200);

    const bundle = await sdk.paymentLinks.create({ line_items: [{ price: starter.id, quantity: 2 }, { price: bulk.id, quantity: 1 }] });
    const withStray = await sdk.paymentLinks.create({ line_items: [{ price: starter.id, quantity: 1 }, { price: stray.id, quantity: 1 }] });
    const mixed = await sdk.paymentLinks.create({ line_items: [{ price: standard.id, quantity: 1 }, { price: bulk.id, quantity: 1 }] });
    const r = await importStripe(h.tg.ctx, p.id);
    expect(r.payment_links).toMatchObject({ seen: 3, adopted: 1 });
    const refused = new Map(r.payment_links.refused.map((x) => [x.id, x.message]));
    expect([...refused.keys()].sort()).toEqual([withStray.id, mixed.id].sort());
    expect(refused.get(withStray.id)).toBe(
      `Payment Link ${withStray.id} (${withStray.url}) not adopted: price ${stray.id} is bound to no catalog plan or pack (bind it with STRIPE_PRICE_<ITEM> / --bind-prices, or POST /v1/providers/stripe/price-bindings)`,
    );
    expect(refused.get(mixed.id)).toBe(
      `Payment Link ${mixed.id} (${mixed.url}) not adopted: it sells plan standard + pack bulk: an adopted link sells one plan alone, or credit packs only`,
    );
    const adopted = await h.db.query<{ link_ref: string; lines: unknown }>('SELECT link_ref, lines FROM stripe_payment_links WHERE project_id = $1', [p.id]);
    expect(adopted.rows).toEqual([
      {
        link_ref: bundle.id,
        lines: [
          { price_ref: starter.id, kind: 'pack', item_id: 'starter', quantity: 2 },
          { price_ref: bulk.id, kind: 'pack', item_id: 'bulk', quantity: 1 },
        ],
      },
    ]);
    expect((await importStripe(h.tg.ctx, p.id)).payment_links).toMatchObject({ seen: 3, adopted: 0 });

    const completed = stripe.payThroughLink(sk, bundle.id, { email: 'bundle@example.com' }).find((e) => e.type === 'checkout.session.completed')!;
    const body = JSON.stringify(completed);
    const res = await h.inject({
      method: 'POST',
      url: `/v1/webhooks/stripe/${p.id}`,
      headers: { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, whsec, Math.floor(h.clock.now().getTime() / 1000)) },
      payload: body,
    });
    expect(res.status, res.body).toBe(200);
    const tx = await p.call('GET', '/v1/customers/bundle@example.com/credits/transactions');
    expect(tx.body.data.map((e: { amount: number; kind: string }) => [e.kind, e.amount])).toEqual([
      ['purchase', 2 * 15 + 100],
      ['signup', 10],
    ]);
    const paid = await h.db.query<{ amount: string }>('SELECT amount::text FROM payments WHERE project_id = $1 AND customer_id = $2', [p.id, 'bundle@example.com']);
    expect(paid.rows).toEqual([{ amount: String(2 * 500 + 2500) }]);
  });
});
