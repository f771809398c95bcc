/**
 * `npm run bench`: Tollgate's deduct over HTTP against PostgreSQL, as a ratio to the database
 * ceiling measured in the same run (the same balance update + ledger insert sent straight through
 * `pg` as one prepared statement, at the same concurrency). Then the embedded database likewise.
 * The machine is shared and noisy: compare ratios, not absolute numbers across runs.
 */
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { openDb } from '../src/db/db.ts';
import { migrate } from '../src/db/migrate.ts';
import { systemClock } from '../src/clock.ts';
import { createProject } from '../src/modules/projects/projects.service.ts';
import { pushCatalog } from '../src/modules/catalog/catalog.service.ts';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import pino from 'pino';
import { defaultRegistry } from '../src/app/capabilities.ts';
import { closedLoop, type Figures, fmt, httpLoad, measured, startServer, stopServer, tableHeader, tableRow } from './lib.ts';
import type { Db } from '../src/db/db.ts';
import { GroupCommit } from '../src/db/group-commit.ts';
import { applyDeductBatch, type BatchedDeduct } from '../src/modules/credits/credits.batch.ts';
import { realtimeBench } from './realtime.ts';
import { verifyBench } from './verify.ts';
import { holdsBench } from './holds.ts';
import { rateLimitBench, usageBench } from './usage.ts';

const ADMIN_URL = process.env.BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DB_NAME = process.env.BENCH_DB_NAME ?? 'tollgate_bench';
const DB_URL = process.env.BENCH_DATABASE_URL ?? `postgres://postgres@127.0.0.1:5432/${DB_NAME}`;
const CUSTOMERS = 10_000;
const MS = Number(process.env.BENCH_MS ?? 4000);
const CLIENTS = (process.env.BENCH_CLIENTS ?? '1,8,32').split(',').map(Number);
const PORT = Number(process.env.BENCH_PORT ?? 4391);
/** `BENCH_ONLY=realtime`: only the in-process check, stream and batch figures (a reduced run); `BENCH_ONLY=deduct`: only the deduct tables; `BENCH_ONLY=verify`: only the API-key verify figures; `BENCH_ONLY=usage`: only check, track and rate limits; `BENCH_ONLY=holds`: only hold + capture pairs. */
const ONLY = process.env.BENCH_ONLY;
const ENC = `k1:${Buffer.alloc(32, 3).toString('base64')}`;
const PROJECT = 'bench';

const CEILING_SQL = `WITH d AS (
  UPDATE credit_accounts SET balance = balance - $3, updated_at = now()
  WHERE project_id = $1 AND customer_id = $2 AND balance - held >= $3 RETURNING balance)
INSERT INTO ledger_entries (id, project_id, customer_id, amount, balance_after, kind, created_at)
SELECT $4, $1, $2, -$3::bigint, d.balance, 'deduct', now() FROM d RETURNING balance_after`;

async function resetDatabase(): Promise<void> {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DB_NAME} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${DB_NAME}`);
  await admin.end();
}

async function seed(url: string): Promise<string> {
  const db = await openDb({ databaseUrl: url });
  await migrate(db);
  const config = { ...loadConfig({ TOLLGATE_ENCRYPTION_KEY: ENC, DATABASE_URL: url ?? 'x' } as NodeJS.ProcessEnv), databaseUrl: url };
  const ctx = { db, config, clock: systemClock, log: pino({ level: 'silent' }), registry: defaultRegistry() };
  const { secretKey } = await createProject(ctx, { id: PROJECT, name: 'Bench' });
  // AurisVoice's credits plus a free plan with a metered feature, for check and track.
  const auris = DEMO_CATALOGS.aurisvoice!.catalog;
  await pushCatalog(ctx, PROJECT, {
    ...auris,
    features: [...(auris.features ?? []), { id: 'api_calls', type: 'metered' }],
    plans: [{ id: 'free', name: 'Free', price: { amount: 0, currency: 'eur' }, features: { api_calls: { limit: 1_000_000_000 } } }],
    free_plan: 'free',
  });
  await db.exec(`
    INSERT INTO customers (project_id, id, created_at, updated_at)
      SELECT '${PROJECT}', 'c' || g, now(), now() FROM generate_series(0, ${CUSTOMERS - 1}) g;
    INSERT INTO credit_accounts (project_id, customer_id, balance)
      SELECT '${PROJECT}', 'c' || g, 1000000000 FROM generate_series(0, ${CUSTOMERS - 1}) g;
    ANALYZE;`);
  await db.close();
  return secretKey.key;
}


let seq = 0;
const entryId = () => `led_bench_${process.pid}_${seq++}`;
const spread = () => `c${Math.floor(Math.random() * CUSTOMERS)}`;

async function ceiling(pool: pg.Pool, clients: number, hot: boolean): Promise<Figures> {
  return closedLoop(`db ceiling (pg, prepared) ${hot ? 'hot customer' : 'spread'}`, clients, MS, async () => {
    await pool.query({ name: 'ceiling_deduct', text: CEILING_SQL, values: [PROJECT, hot ? 'c0' : spread(), 1, entryId()] });
  });
}

/** The backends of the bench database (Tollgate's pool and the bench's own). */
function pgPidsOf(pool: pg.Pool): () => Promise<number[]> {
  return async () => (await pool.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database()')).rows.map((r) => r.pid);
}

/** The best the database does with batches: the same batch statement Tollgate uses, straight through `pg`. */
async function batchedCeiling(db: Db, clients: number, hot: boolean): Promise<Figures> {
  const gc = new GroupCommit<BatchedDeduct, unknown>((ops) => applyDeductBatch(db, ops), { maxBatch: 256 });
  const at = new Date();
  return closedLoop(`db batched SQL ceiling ${hot ? 'hot' : 'spread'}`, clients, MS, async () => {
    await gc.submit({ projectId: PROJECT, customerId: hot ? 'c0' : spread(), amount: 1, reason: 'Deduct', metadata: null, at, threshold: null, idempotency: null });
  });
}

/**
 * Deduct, spread and one hot customer, at each concurrency: the one-at-a-time ceiling, the batched-SQL
 * ceiling, then Tollgate over HTTP without and with an Idempotency-Key on every request.
 */
async function deductSections(o: { url: string; key: string; pool: pg.Pool; serverPid: number; out: (s: string) => void; ratios: string[]; label: string; clients?: number[] }) {
  const pgPids = pgPidsOf(o.pool);
  const db = await openDb({ databaseUrl: DB_URL, poolSize: 8 });
  try {
    for (const hot of [false, true]) {
      o.out('');
      o.out(`PostgreSQL — deduct, ${hot ? 'one hot customer' : `spread over ${CUSTOMERS} customers`} (${o.label})`);
      o.out(tableHeader());
      for (const c of o.clients ?? CLIENTS) {
        const one = await measured(() => ceiling(o.pool, c, hot), { ms: MS, pgPids });
        const batched = await measured(() => batchedCeiling(db, c, hot), { ms: MS, pgPids });
        o.out(tableRow(one));
        o.out(tableRow(batched, { oneAtATime: one.opsPerSec }));
        for (const keyed of [false, true]) {
          const http = await measured(
            () =>
              httpLoad(`HTTP deduct ${hot ? 'hot' : 'spread'}${keyed ? ', Idempotency-Key' : ''}`, {
                url: o.url,
                clients: c,
                ms: MS,
                key: o.key,
                body: '{"amount":1}',
                keyed,
                path: () => `/v1/customers/${hot ? 'c0' : spread()}/credits/deduct`,
              }),
            { ms: MS, serverPid: o.serverPid, pgPids },
          );
          o.out(tableRow(http, { oneAtATime: one.opsPerSec, batched: batched.opsPerSec }));
          o.ratios.push(
            `  deduct ${hot ? 'hot' : 'spread'} ${keyed ? 'with key   ' : 'without key'} c=${String(c).padStart(2)} (${o.label}): ${(http.opsPerSec / one.opsPerSec).toFixed(2)}× one-at-a-time, ${(http.opsPerSec / batched.opsPerSec).toFixed(2)}× batched SQL, p50 ${http.p50.toFixed(1)} ms, p99 ${http.p99.toFixed(1)} ms, ${http.opsPerSec.toFixed(0)} ops/s`,
          );
        }
      }
    }
  } finally {
    await db.close();
  }
}

async function main(): Promise<void> {
  const lines: string[] = [];
  const out = (s: string) => {
    lines.push(s);
    process.stdout.write(`${s}\n`);
  };
  out(`Tollgate bench — ${new Date().toISOString()} — ${CUSTOMERS} customers, ${MS / 1000} s per run, node ${process.version}`);

  // PostgreSQL server -------------------------------------------------------------------
  await resetDatabase();
  const key = await seed(DB_URL);
  const server = await startServer({ DATABASE_URL: DB_URL, TOLLGATE_ENCRYPTION_KEY: ENC, TOLLGATE_DEMO: '0' }, PORT);
  const pool = new pg.Pool({ connectionString: DB_URL, max: 8 });
  const url = `http://127.0.0.1:${PORT}`;
  const ratios: string[] = [];
  const rateLimited: { label: string; f: Figures }[] = [];
  try {
    if (ONLY === 'verify') {
      await verifyBench({ url, key, pool, project: PROJECT, customers: CUSTOMERS, ms: MS, out, ratios, ceiling: () => ceiling(pool, 32, false) });
      out('');
      out('Summary');
      for (const r of ratios) out(r);
      return;
    }
    if (ONLY === 'usage') {
      await httpLoad('warm-up', { url, clients: 8, ms: 1500, key, body: '{"amount":1}', path: () => `/v1/customers/${spread()}/credits/deduct` });
      await ceiling(pool, 8, false);
      await usageBench({ url, key, ms: MS, customers: CUSTOMERS, out, ratios, ceiling: (c) => ceiling(pool, c, false) });
      await stopServer(server);
      await rateLimitBench({
        key,
        ms: MS,
        customers: CUSTOMERS,
        out,
        ratios,
        pool,
        port: PORT,
        env: { DATABASE_URL: DB_URL, TOLLGATE_ENCRYPTION_KEY: ENC, TOLLGATE_DEMO: '0' },
        redisUrl: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
      });
      out('');
      out('Summary');
      for (const r of ratios) out(r);
      return;
    }
    if (ONLY === 'holds') {
      await httpLoad('warm-up', { url, clients: 8, ms: 1500, key, body: '{"amount":1}', path: () => `/v1/customers/${spread()}/credits/deduct` });
      await holdsBench({ url, key, ms: MS, customers: CUSTOMERS, out, ratios, ceiling: (c) => ceiling(pool, c, false) });
      out('');
      out('Summary');
      for (const r of ratios) out(r);
      return;
    }
    if (ONLY === 'realtime') {
      await realtimeBench({ url, key, ms: MS, customers: CUSTOMERS, out, ratios, sql: (text) => pool.query(text) });
      out('');
      out('Summary');
      for (const r of ratios) out(r);
      return;
    }
    // warm-up
    await httpLoad('warm-up', { url, clients: 8, ms: 1500, key, body: '{"amount":1}', path: () => `/v1/customers/${spread()}/credits/deduct` });
    await ceiling(pool, 8, false);
    await deductSections({ url, key, pool, serverPid: server.pid as number, out, ratios, label: 'group commit on' });
    if (ONLY !== 'deduct') await otherSections();
    async function otherSections() {
    // check and track at 32 clients, as a ratio to the deduct ceiling at 32 clients spread.
    out('');
    out('PostgreSQL — usage: POST /v1/check and POST /v1/track (metered feature), spread');
    const base = await ceiling(pool, 32, false);
    out(fmt(base));
    for (const path of ['/v1/check', '/v1/track']) {
      const f = await httpLoad(`POST ${path}`, {
        url,
        clients: 32,
        ms: MS,
        key,
        body: '',
        path: () => path,
        bodyFor: () => JSON.stringify({ customer_id: spread(), feature: 'api_calls', quantity: 1 }),
      });
      out(fmt(f));
      const line = `  ratio ${path} / ceiling at 32 clients spread: ${(f.opsPerSec / base.opsPerSec).toFixed(2)}   (HTTP p99 ${f.p99.toFixed(1)} ms)`;
      out(line);
      ratios.push(line);
    }
    await usageBench({ url, key, ms: MS, customers: CUSTOMERS, out, ratios, ceiling: (c) => ceiling(pool, c, false) });
    await realtimeBench({ url, key, ms: MS, customers: CUSTOMERS, out, ratios, sql: (text) => pool.query(text) });
    await holdsBench({ url, key, ms: MS, customers: CUSTOMERS, out, ratios, ceiling: (c) => ceiling(pool, c, false) });
    // Deduct with auto top-up enabled for every customer (threshold never reached: the cost of the
    // check after each deduct), against the same run without it.
    out('');
    out('PostgreSQL — deduct with auto top-up enabled vs without, spread, 32 clients');
    const deductLoad = (label: string) =>
      httpLoad(label, { url, clients: 32, ms: MS, key, body: '{"amount":1}', path: () => `/v1/customers/${spread()}/credits/deduct` });
    const plain = await deductLoad('deduct, no auto top-up');
    out(fmt(plain));
    await pool.query(
      `INSERT INTO credit_auto_top_ups (project_id, customer_id, enabled, threshold, pack_id, monthly_cap, updated_at)
       SELECT $1, 'c' || g, true, 10, 'pro', 3000, now() FROM generate_series(0, ${CUSTOMERS - 1}) g`,
      [PROJECT],
    );
    const topUp = await deductLoad('deduct, auto top-up enabled');
    out(fmt(topUp));
    const line = `  ratio deduct with auto top-up / without at 32 clients spread: ${(topUp.opsPerSec / plain.opsPerSec).toFixed(2)}   (p99 ${topUp.p99.toFixed(1)} ms)`;
    out(line);
    ratios.push(line);
    await pool.query('DELETE FROM credit_auto_top_ups WHERE project_id = $1', [PROJECT]);

    // Customer API keys: verify over HTTP, from the SDK cache, and the revocation latency (bench/verify.ts).
    await verifyBench({ url, key, pool, project: PROJECT, customers: CUSTOMERS, ms: MS, out, ratios, ceiling: () => ceiling(pool, 32, false) });
    }
  } finally {
    await pool.end();
    await stopServer(server);
  }

  // The same deduct at 32 clients on a server with group commit off (one transaction per request).
  {
    const srv = await startServer({ DATABASE_URL: DB_URL, TOLLGATE_ENCRYPTION_KEY: ENC, TOLLGATE_DEMO: '0', TOLLGATE_GROUP_COMMIT: '0' }, PORT);
    const pool2 = new pg.Pool({ connectionString: DB_URL, max: 8 });
    try {
      await deductSections({ url, key, pool: pool2, serverPid: srv.pid as number, out, ratios, label: 'group commit off', clients: [32] });
    } finally {
      await pool2.end();
      await stopServer(srv);
    }
  }

  if (ONLY !== 'deduct') await rateLimitSection();
  async function rateLimitSection() {
  // Rate limits on: the same deduct at 32 clients with per-key and per-customer limits set high
  // enough never to refuse, counted in PostgreSQL and then in Redis.
  out('');
  out('Rate limits on (limits never reached): deduct spread, 32 clients');
  const limits = { TOLLGATE_RATE_LIMIT_PER_KEY: '1000000', TOLLGATE_RATE_LIMIT_PER_CUSTOMER: '1000000' };
  for (const [label, extra] of [
    ['no limits', {}],
    ['limits counted in PostgreSQL', limits],
    ['limits counted in Redis', { ...limits, REDIS_URL: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379' }],
  ] as const) {
    const srv = await startServer({ DATABASE_URL: DB_URL, TOLLGATE_ENCRYPTION_KEY: ENC, TOLLGATE_DEMO: '0', ...extra }, PORT);
    try {
      const f = await httpLoad(`deduct, ${label}`, {
        url,
        clients: 32,
        ms: MS,
        key,
        body: '{"amount":1}',
        path: () => `/v1/customers/${spread()}/credits/deduct`,
      });
      out(fmt(f));
      rateLimited.push({ label, f });
    } finally {
      await stopServer(srv);
    }
  }
  const unlimited = rateLimited[0]?.f.opsPerSec ?? 1;
  for (const r of rateLimited.slice(1)) {
    const line = `  ratio ${r.label} / no limits: ${(r.f.opsPerSec / unlimited).toFixed(2)}   (p99 ${r.f.p99.toFixed(1)} ms)`;
    out(line);
    ratios.push(line);
  }

  }

  // Embedded database (PGlite) -------------------------------------------------------------
  out('');
  out('Embedded database (PGlite, in memory, in this process) — deduct without HTTP');
  {
    const db = await openDb({ dataDir: 'memory://' });
    await migrate(db);
    const config = { ...loadConfig({ TOLLGATE_ENCRYPTION_KEY: ENC, DATABASE_URL: 'x' } as NodeJS.ProcessEnv), databaseUrl: undefined };
    const ctx = { db, config, clock: systemClock, log: pino({ level: 'silent' }), registry: defaultRegistry() };
    await createProject(ctx, { id: PROJECT, name: 'Bench' });
    await db.exec(`
      INSERT INTO customers (project_id, id, created_at, updated_at) SELECT '${PROJECT}', 'c' || g, now(), now() FROM generate_series(0, ${CUSTOMERS - 1}) g;
      INSERT INTO credit_accounts (project_id, customer_id, balance) SELECT '${PROJECT}', 'c' || g, 1000000000 FROM generate_series(0, ${CUSTOMERS - 1}) g;`);
    const { deduct } = await import('../src/modules/credits/credits.service.ts');
    const { deductGrouped } = await import('../src/modules/credits/credits.batch.ts');
    const self = { ms: MS };
    out(tableHeader());
    for (const c of [1, 8, 32]) {
      const raw = await measured(
        () =>
          closedLoop('PGlite ceiling (one statement at a time)', c, MS, async () => {
            await db.query(CEILING_SQL, [PROJECT, spread(), 1, entryId()]);
          }),
        self,
      );
      const gc = new GroupCommit<BatchedDeduct, unknown>((ops) => applyDeductBatch(db, ops), { maxBatch: 256 });
      const at = new Date();
      const batched = await measured(
        () =>
          closedLoop('PGlite batched SQL ceiling', c, MS, async () => {
            await gc.submit({ projectId: PROJECT, customerId: spread(), amount: 1, reason: 'Deduct', metadata: null, at, threshold: null, idempotency: null });
          }),
        self,
      );
      const svc = await measured(
        () =>
          closedLoop('PGlite deduct service, one at a time', c, MS, async () => {
            await deduct(ctx, db, PROJECT, spread(), { amount: 1 });
          }),
        self,
      );
      const grouped = await measured(
        () =>
          closedLoop('PGlite deduct service, group commit', c, MS, async () => {
            await deductGrouped(ctx, PROJECT, spread(), { amount: 1 }, null);
          }),
        self,
      );
      const groupedKeyed = await measured(
        () =>
          closedLoop('PGlite group commit, Idempotency-Key', c, MS, async (_c, i) => {
            await deductGrouped(ctx, PROJECT, spread(), { amount: 1 }, { key: `pgl-${process.pid}-${c}-${i}`, hash: 'h' });
          }),
        self,
      );
      out(tableRow(raw));
      out(tableRow(batched, { oneAtATime: raw.opsPerSec }));
      for (const f of [svc, grouped, groupedKeyed]) out(tableRow(f, { oneAtATime: raw.opsPerSec, batched: batched.opsPerSec }));
      for (const f of [grouped, groupedKeyed]) {
        ratios.push(`  ${f.name} c=${c}: ${(f.opsPerSec / raw.opsPerSec).toFixed(2)}× PGlite one-at-a-time ceiling, ${(f.opsPerSec / batched.opsPerSec).toFixed(2)}× its batched ceiling, p99 ${f.p99.toFixed(1)} ms`);
      }
    }
    out(`  (gen = this process, which here is also the database; peak RSS of this process ${(process.memoryUsage().rss / 1048576).toFixed(0)} MB)`);
    await db.close();
  }
  out('');
  out('Summary');
  for (const r of ratios) out(r);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
