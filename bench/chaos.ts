/**
 * `npm run chaos [-- --seconds 60 --kill-every 3 --database-url postgres://…]`: mixed load against a
 * real server process (`tsx src/cli.ts start`) that is `kill -9`ed every few seconds and restarted;
 * then every Idempotency-Key is sent again and the invariants are checked through the API and in SQL.
 * Without --database-url the server uses an embedded PGlite data dir it owns (reopened after each kill).
 * Exits non-zero when an invariant is broken. `runChaos` is also what the CI-sized test calls.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openDb } from '../src/db/db.ts';

const KEY = 'sk_test_chaos_aurisvoice';
const PROJECT = 'aurisvoice';
const ENCRYPTION_KEY = `k1:${Buffer.alloc(32, 9).toString('base64')}`;

export interface ChaosOptions {
  seconds: number;
  killEveryMs: number;
  /** PostgreSQL (a schema of its own is fine: pass `options=-c search_path=…`); absent: PGlite. */
  databaseUrl?: string;
  clients?: number;
  /** Runs the server with a known bug switched on (TOLLGATE_PLANTED_BUG), to show the run catches it. */
  plantedBug?: 'reply-after-commit';
  log?: (line: string) => void;
}

export interface ChaosReport {
  engine: 'pg' | 'pglite';
  seconds: number;
  kills: number;
  sent: number;
  acknowledged: number;
  unanswered: number;
  resent: number;
  outboxEvents: number;
  deliveries: number;
  violations: string[];
}

type OpKind = 'grant' | 'deduct' | 'hold' | 'capture' | 'release' | 'checkout' | 'pay';

interface Op {
  kind: OpKind;
  key: string;
  method: 'POST';
  path: string;
  body: unknown;
  /** The first reply received (status and body), if any. */
  ack?: { status: number; body: any };
  /** The reply to the final resend. */
  final?: { status: number; body: any };
}

interface Server {
  child: ChildProcess;
  exited: Promise<unknown>;
}

/** JSON with sorted keys: a stored reply comes back with the same fields, not always in the same order. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x,
  );
}

async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A local receiver of outgoing webhooks: records every delivery's webhook-id and event id. */
async function startReceiver() {
  const seen: Array<{ webhookId: string; eventId: string }> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string };
        seen.push({ webhookId: String(req.headers['webhook-id']), eventId: body.id });
      } catch {
        /* recorded as nothing */
      }
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const log = opts.log ?? (() => {});
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-chaos-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    TOLLGATE_DATA_DIR: dataDir,
    TOLLGATE_ENCRYPTION_KEY: ENCRYPTION_KEY,
    TOLLGATE_DEMO: 'true',
    TOLLGATE_DEMO_KEY: 'sk_test_chaos',
    TOLLGATE_WEBHOOK_ALLOW_PRIVATE: 'true',
    TOLLGATE_RUNNER_INTERVAL_MS: '200',
    // A send cut by the kill is retried once its lease (timeout + 5 s) ends, well inside the drain wait.
    TOLLGATE_WEBHOOK_TIMEOUT_MS: '2000',
    LOG_LEVEL: 'silent',
  };
  if (opts.plantedBug) env.TOLLGATE_PLANTED_BUG = opts.plantedBug;
  else delete env.TOLLGATE_PLANTED_BUG;
  if (opts.databaseUrl) env.DATABASE_URL = opts.databaseUrl;
  else delete env.DATABASE_URL;

  let server: Server | null = null;
  const start = async (): Promise<void> => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const exited = once(child, 'exit');
    server = { child, exited };
    const deadline = Date.now() + 180_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the server exited while starting: ${stderr}`);
      try {
        const r = await fetch(`${base}/health`, { signal: AbortSignal.timeout(1000) });
        if (r.ok) return;
      } catch {
        /* not up yet */
      }
      if (Date.now() > deadline) throw new Error(`the server did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const kill9 = async (): Promise<void> => {
    const s = server;
    server = null;
    if (!s) return;
    s.child.kill('SIGKILL');
    await s.exited;
  };

  const call = async (method: string, path: string, body: unknown, key: string): Promise<{ status: number; body: any }> => {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'idempotency-key': key },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  };
  const get = async (path: string) => {
    const r = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${KEY}` } });
    return { status: r.status, body: (await r.json()) as any };
  };

  const receiver = await startReceiver();
  const ops: Op[] = [];
  const violations: string[] = [];
  let kills = 0;
  let sent = 0;
  try {
    await start();
    const ep = await call('POST', '/v1/webhook-endpoints', { url: receiver.url, events: ['credits.granted', 'credits.deducted', 'checkout.completed'] }, 'chaos-endpoint');
    if (ep.status !== 201) throw new Error(`could not create the endpoint: ${JSON.stringify(ep.body)}`);

    const send = async (op: Op): Promise<Op['ack']> => {
      ops.push(op);
      sent++;
      try {
        const r = await call(op.method, op.path, op.body, op.key);
        if (r.status < 500) op.ack = r;
        return op.ack;
      } catch {
        // The server is down (killed): wait a little instead of spinning.
        await new Promise((res) => setTimeout(res, 100));
        return undefined;
      }
    };
    const end = Date.now() + opts.seconds * 1000;
    let running = true;
    const killer = (async () => {
      while (running) {
        await new Promise((r) => setTimeout(r, opts.killEveryMs * (0.5 + Math.random())));
        if (!running || Date.now() > end) break;
        await kill9();
        kills++;
        log(`kill -9 #${kills}`);
        await start();
      }
    })();
    const clients = opts.clients ?? 6;
    await Promise.all(
      Array.from({ length: clients }, async (_v, c) => {
        let i = 0;
        while (Date.now() < end) {
          i++;
          const customer = `chaos-${c}-${i % 5}`;
          const k = `c${c}-${i}`;
          const roll = i % 7;
          if (roll === 0 || roll === 3) {
            await send({ kind: 'grant', key: `${k}-g`, method: 'POST', path: `/v1/customers/${customer}/credits/grant`, body: { amount: 20 } });
          } else if (roll === 1 || roll === 4 || roll === 6) {
            await send({ kind: 'deduct', key: `${k}-d`, method: 'POST', path: `/v1/customers/${customer}/credits/deduct`, body: { amount: 1 + (i % 3) } });
          } else if (roll === 2) {
            const h = await send({ kind: 'hold', key: `${k}-h`, method: 'POST', path: `/v1/customers/${customer}/credits/holds`, body: { amount: 3 } });
            if (h?.status === 200 || h?.status === 201) {
              const id = h.body.id as string;
              if (i % 2) await send({ kind: 'capture', key: `${k}-hc`, method: 'POST', path: `/v1/holds/${id}/capture`, body: { amount: 2 } });
              else await send({ kind: 'release', key: `${k}-hr`, method: 'POST', path: `/v1/holds/${id}/release`, body: {} });
            }
          } else {
            const cs = await send({
              kind: 'checkout',
              key: `${k}-cs`,
              method: 'POST',
              path: '/v1/checkout',
              body: { customer_id: customer, credit_pack: 'starter', success_url: 'https://shop.example/ok', cancel_url: 'https://shop.example/no' },
            });
            if (cs?.status === 200 || cs?.status === 201) {
              await send({ kind: 'pay', key: `${k}-p`, method: 'POST', path: `/v1/test-helpers/checkout/${cs.body.session_id}/pay`, body: {} });
            }
          }
        }
      }),
    );
    running = false;
    await killer;
    if (!server) await start();

    // Every key again: an acknowledged reply must come back the same; an unanswered one now answers.
    let resent = 0;
    for (const op of ops) {
      let r: { status: number; body: any } | undefined;
      for (let attempt = 0; attempt < 20 && !r; attempt++) {
        try {
          r = await call(op.method, op.path, op.body, op.key);
          if (r.status >= 500 || r.status === 409) {
            if (r.body?.error?.code === 'idempotency_in_progress' || r.status >= 500) {
              r = undefined;
              await new Promise((res) => setTimeout(res, 100));
            }
          }
        } catch {
          await new Promise((res) => setTimeout(res, 100));
        }
      }
      resent++;
      if (!r) {
        violations.push(`${op.key}: no answer on resend`);
        continue;
      }
      op.final = r;
      if (op.ack && op.kind !== 'pay' && (op.ack.status !== r.status || canonical(op.ack.body) !== canonical(r.body))) {
        violations.push(`${op.key}: the replayed reply differs from the acknowledged one (${op.ack.status} ${JSON.stringify(op.ack.body)} → ${r.status} ${JSON.stringify(r.body)})`);
      }
    }

    // Outgoing: wait for the outbox to drain to the receiver. No pending delivery is not enough on
    // its own (an event not yet fanned out has none), so each quiet look also runs every due job to
    // the end (a one-second test-clock move does); two quiet looks in a row, with nothing left to
    // run, mean drained.
    const deadline = Date.now() + 60_000;
    let quiet = 0;
    let round = 0;
    while (Date.now() < deadline && quiet < 2) {
      const r = await get('/v1/webhook-deliveries?status=pending&limit=1').catch(() => null);
      const pending = r?.status === 200 ? (r.body.data?.length ?? 1) : 1;
      if (pending === 0) {
        const moved = await call('POST', '/v1/test_helpers/clock/advance', { seconds: 1 }, `chaos-drain-${round++}`).catch(() => null);
        const ran = moved?.status === 200 ? Object.values(moved.body.ran as Record<string, number>).reduce((a, b) => a + b, 0) : 1;
        quiet = ran === 0 ? quiet + 1 : 0;
      } else quiet = 0;
      await new Promise((res) => setTimeout(res, 200));
    }

    // Through the API: each customer's balance is never below 0 and held never above the balance.
    const customers = [...new Set(ops.filter((o) => o.path.startsWith('/v1/customers/')).map((o) => o.path.split('/')[3] as string))];
    for (const c of customers) {
      const b = await get(`/v1/customers/${c}/credits`);
      if (b.status !== 200) violations.push(`${c}: GET credits → ${b.status}`);
      else if (b.body.balance < 0 || b.body.available < 0) violations.push(`${c}: balance ${b.body.balance}, available ${b.body.available}`);
    }

    // Stop the server gently (the embedded database is owned by that process), then read SQL.
    const s = server as Server | null;
    server = null;
    if (s) {
      s.child.kill('SIGTERM');
      await s.exited;
    }
    const db = await openDb(opts.databaseUrl ? { databaseUrl: opts.databaseUrl, poolSize: 2 } : { dataDir: `${dataDir}/pgdata` });
    try {
      const rows = async <T>(sql: string, params: unknown[] = [PROJECT]) => (await db.query<T>(sql, params)).rows;
      for (const r of await rows<{ customer_id: string; balance: number; sum: number }>(
        `SELECT a.customer_id, a.balance, COALESCE(l.s, 0)::bigint AS sum FROM credit_accounts a
         LEFT JOIN (SELECT customer_id, sum(amount) AS s FROM ledger_entries WHERE project_id = $1 GROUP BY customer_id) l USING (customer_id)
         WHERE a.project_id = $1 AND a.balance <> COALESCE(l.s, 0)`,
      )) {
        violations.push(`${r.customer_id}: cached balance ${r.balance} ≠ Σ ledger ${r.sum}`);
      }
      for (const r of await rows<{ customer_id: string }>('SELECT customer_id FROM credit_accounts WHERE project_id = $1 AND (balance < 0 OR balance - held < 0)')) {
        violations.push(`${r.customer_id}: below 0`);
      }
      for (const r of await rows<{ customer_id: string; held: number; open: number }>(
        `SELECT a.customer_id, a.held, COALESCE(h.s, 0)::bigint AS open FROM credit_accounts a
         LEFT JOIN (SELECT customer_id, sum(amount) AS s FROM credit_holds WHERE project_id = $1 AND status = 'held' GROUP BY customer_id) h USING (customer_id)
         WHERE a.project_id = $1 AND a.held <> COALESCE(h.s, 0)`,
      )) {
        violations.push(`${r.customer_id}: held ${r.held} ≠ Σ open holds ${r.open}`);
      }
      const inProgress = await rows<{ n: number }>('SELECT count(*)::int AS n FROM idempotency_keys WHERE project_id = $1 AND status_code IS NULL');
      if ((inProgress[0]?.n ?? 0) > 0) violations.push(`${inProgress[0]?.n} idempotency key(s) left in progress`);

      // One effect per key: each successful deduct or grant has exactly its one ledger entry.
      const entries = new Map((await rows<{ kind: string; n: number }>('SELECT kind, count(*)::int AS n FROM ledger_entries WHERE project_id = $1 GROUP BY kind')).map((r) => [r.kind, r.n]));
      const ok = (kind: OpKind) => ops.filter((o) => o.kind === kind && o.final && o.final.status < 300).length;
      for (const op of ops.filter((o) => o.kind === 'deduct' && o.final?.status === 200)) {
        const n = await rows<{ n: number }>('SELECT count(*)::int AS n FROM ledger_entries WHERE project_id = $1 AND id = $2', [PROJECT, op.final?.body.transaction_id]);
        if (n[0]?.n !== 1) violations.push(`${op.key}: acknowledged deduct ${op.final?.body.transaction_id} is not in the ledger`);
      }
      if ((entries.get('deduct') ?? 0) !== ok('deduct')) violations.push(`deduct entries ${entries.get('deduct') ?? 0} ≠ successful deduct keys ${ok('deduct')}`);
      const grants = (await rows<{ n: number }>("SELECT count(*)::int AS n FROM ledger_entries WHERE project_id = $1 AND kind = 'grant' AND customer_id LIKE 'chaos-%'"))[0]?.n ?? 0;
      if (grants !== ok('grant')) violations.push(`grant entries ${grants} ≠ successful grant keys ${ok('grant')}`);
      // One effect per provider event: each paid session credited once, each event stored once.
      const paidTwice = await rows<{ source_id: string }>(
        `SELECT source_id FROM ledger_entries WHERE project_id = $1 AND source_id IS NOT NULL AND kind NOT IN ('deduct', 'grant')
         GROUP BY customer_id, source_id, kind HAVING count(*) > 1`,
      );
      for (const r of paidTwice) violations.push(`${r.source_id}: credited more than once`);
      const dupEvents = await rows<{ event_id: string }>('SELECT event_id FROM provider_events WHERE project_id = $1 GROUP BY provider, event_id HAVING count(*) > 1');
      for (const r of dupEvents) violations.push(`provider event ${r.event_id} stored twice`);
      const sessions = ops.filter((o) => o.kind === 'checkout' && o.final && o.final.status < 300).map((o) => o.final?.body.session_id as string);
      const paidSessions = await rows<{ id: string; credited: number }>(
        `SELECT s.id, (SELECT count(*)::int FROM ledger_entries l WHERE l.project_id = s.project_id AND l.customer_id = s.customer_id AND l.source_id = s.id) AS credited
         FROM checkout_sessions s WHERE s.project_id = $1 AND s.id = ANY($2::text[]) AND s.payment_status = 'paid'`,
        [PROJECT, sessions],
      );
      for (const s of paidSessions) if (s.credited !== 1) violations.push(`${s.id}: paid, credited ${s.credited} times`);
      const paidOps = ops.filter((o) => o.kind === 'pay' && o.final && o.final.status < 300).map((o) => o.path.split('/')[4]);
      const paidIds = new Set(paidSessions.map((s) => s.id));
      for (const id of paidOps) if (!paidIds.has(id as string)) violations.push(`${id}: acknowledged payment not recorded`);

      // Outgoing: every event for the endpoint delivered at least once, under its own stable id.
      const events = await rows<{ id: string }>(
        `SELECT e.id FROM outbox_events e JOIN webhook_endpoints ep ON ep.project_id = e.project_id AND ep.url = $2
         WHERE e.project_id = $1 AND e.created_at >= ep.created_at AND e.type = ANY(ep.events)`,
        [PROJECT, receiver.url],
      );
      const received = new Set(receiver.seen.map((s) => s.eventId));
      const missing = events.filter((e) => !received.has(e.id));
      if (missing.length) violations.push(`${missing.length} of ${events.length} outbox events never delivered (e.g. ${missing[0]?.id})`);
      const unstable = receiver.seen.filter((s) => s.webhookId !== s.eventId);
      if (unstable.length) violations.push(`${unstable.length} deliveries whose webhook-id is not the event id`);
      return {
        engine: opts.databaseUrl ? 'pg' : 'pglite',
        seconds: opts.seconds,
        kills,
        sent,
        acknowledged: ops.filter((o) => o.ack).length,
        unanswered: ops.filter((o) => !o.ack).length,
        resent,
        outboxEvents: events.length,
        deliveries: receiver.seen.length,
        violations,
      };
    } finally {
      await db.close();
    }
  } finally {
    await kill9();
    await receiver.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const isMain = process.argv[1]?.endsWith('chaos.ts');
if (isMain) {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '60' },
      'kill-every': { type: 'string', default: '3' },
      'database-url': { type: 'string' },
      'planted-bug': { type: 'string' },
    },
  });
  const planted = values['planted-bug'] as string | undefined;
  if (planted !== undefined && planted !== 'reply-after-commit') {
    process.stderr.write('--planted-bug: the one planted bug is reply-after-commit\n');
    process.exit(2);
  }
  const seconds = Number(values.seconds);
  const killEvery = Number(values['kill-every']);
  if (!Number.isFinite(seconds) || seconds <= 0 || !Number.isFinite(killEvery) || killEvery <= 0) {
    process.stderr.write('usage: npm run chaos -- [--seconds 60] [--kill-every 3] [--database-url postgres://…] [--planted-bug reply-after-commit]\n');
    process.exit(2);
  }
  const report = await runChaos({
    seconds,
    killEveryMs: killEvery * 1000,
    databaseUrl: (values['database-url'] as string | undefined) ?? process.env.DATABASE_URL,
    ...(planted ? { plantedBug: planted } : {}),
    log: (l) => process.stderr.write(`${l}\n`),
  });
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  process.exit(report.violations.length ? 1 : 0);
}
