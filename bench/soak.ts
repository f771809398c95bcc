/**
 * `npm run soak`: finds the most the server sustains on a mixed load (deducts and grants with an
 * Idempotency-Key, balance reads) from 32 closed-loop clients, then holds 70 % of it at a fixed
 * arrival rate for `--minutes` (default 10) and reports, minute by minute, throughput, p50/p99,
 * errors and the server's resident memory and CPU. It fails (exit 1) on any error, on memory that
 * keeps growing (last minute > first minute + 25 %), or on a p99 that drifts (last minute > 3 × first).
 *
 *   npm run soak -- [--minutes 10] [--share 0.7] [--database-url postgres://…]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { closedLoop, percentile, startServer, stopServer } from './lib.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    share: { type: 'string', default: '0.7' },
    'probe-seconds': { type: 'string', default: '15' },
    'database-url': { type: 'string' },
  },
});
const minutes = Number(values.minutes);
const share = Number(values.share);
const probeMs = Number(values['probe-seconds']) * 1000;
if (!(minutes > 0) || !(share > 0 && share <= 1) || !(probeMs > 0)) {
  process.stderr.write('usage: npm run soak -- [--minutes 10] [--share 0.7] [--probe-seconds 15] [--database-url postgres://…]\n');
  process.exit(2);
}

const ADMIN_URL = process.env.BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DB_NAME = 'tollgate_soak';
const DB_URL = (values['database-url'] as string | undefined) ?? `postgres://postgres@127.0.0.1:5432/${DB_NAME}`;
const PORT = 4393;
const BASE = `http://127.0.0.1:${PORT}`;
const KEY = 'sk_test_soak_aurisvoice';
const CUSTOMERS = 1000;
const ENC = `k1:${Buffer.alloc(32, 5).toString('base64')}`;

let seq = 0;
const customer = () => `soak_${Math.floor(Math.random() * CUSTOMERS)}`;

/** One operation of the mix: 60 % deduct, 15 % grant (both with a fresh Idempotency-Key), 25 % balance read. */
async function operation(): Promise<void> {
  const r = Math.random();
  const id = customer();
  const headers = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'idempotency-key': `soak-${process.pid}-${seq++}` };
  let res: Response;
  if (r < 0.6) res = await fetch(`${BASE}/v1/customers/${id}/credits/deduct`, { method: 'POST', headers, body: '{"amount":1}' });
  else if (r < 0.75) res = await fetch(`${BASE}/v1/customers/${id}/credits/grant`, { method: 'POST', headers, body: '{"amount":2,"reason":"soak"}' });
  else res = await fetch(`${BASE}/v1/customers/${id}/credits`, { headers: { authorization: headers.authorization } });
  await res.arrayBuffer();
  if (res.status >= 300) throw new Error(`HTTP ${res.status}`);
}

function processFigures(pid: number): { rssMb: number; cpuS: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]);
  return { rssMb: rss, cpuS: ticks / 100 };
}

interface Minute {
  minute: number;
  opsPerSec: number;
  p50: number;
  p99: number;
  errors: number;
  rssMb: number;
  cpuPer1000: number;
}

/** Sends operations at `rate` per second (open loop: arrivals do not wait for replies) for `ms`. */
async function holdRate(rate: number, ms: number, pid: number, report: (m: Minute) => void): Promise<Minute[]> {
  const out: Minute[] = [];
  const interval = 1000 / rate;
  const start = performance.now();
  let sent = 0;
  let window: number[] = [];
  let errors = 0;
  let windowStart = start;
  let cpuAt = processFigures(pid).cpuS;
  const inflight = new Set<Promise<void>>();
  const minutesWanted = Math.round(ms / 60_000);
  while (out.length < minutesWanted) {
    const due = Math.floor((performance.now() - start) / interval);
    while (sent < due) {
      sent++;
      const t = performance.now();
      const p = operation().then(
        () => {
          window.push(performance.now() - t);
        },
        () => {
          errors++;
          window.push(performance.now() - t);
        },
      );
      inflight.add(p);
      p.finally(() => inflight.delete(p));
    }
    if (performance.now() - windowStart >= 60_000) {
      const lat = window.sort((a, b) => a - b);
      const now = processFigures(pid);
      const m: Minute = {
        minute: out.length + 1,
        opsPerSec: lat.length / ((performance.now() - windowStart) / 1000),
        p50: percentile(lat, 50),
        p99: percentile(lat, 99),
        errors,
        rssMb: now.rssMb,
        cpuPer1000: lat.length ? ((now.cpuS - cpuAt) / lat.length) * 1000 : 0,
      };
      out.push(m);
      report(m);
      window = [];
      errors = 0;
      windowStart = performance.now();
      cpuAt = now.cpuS;
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  await Promise.all(inflight);
  return out;
}

async function main(): Promise<void> {
  if (!values['database-url']) {
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${DB_NAME} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${DB_NAME}`);
    await admin.end();
  }
  const server = await startServer({ DATABASE_URL: DB_URL, TOLLGATE_ENCRYPTION_KEY: ENC, TOLLGATE_DEMO: 'true', TOLLGATE_DEMO_KEY: 'sk_test_soak' }, PORT);
  const pid = server.pid!;
  try {
    // Every customer starts with a large balance, so deducts never run dry.
    await Promise.all(
      Array.from({ length: CUSTOMERS }, (_v, i) =>
        fetch(`${BASE}/v1/customers/soak_${i}/credits/grant`, {
          method: 'POST',
          headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
          body: '{"amount":1000000000,"reason":"soak opening balance"}',
        }).then((r) => r.arrayBuffer()),
      ),
    );
    const probe = await closedLoop('soak mix, closed loop (the maximum)', 32, probeMs, operation);
    const rate = Math.max(1, Math.round(probe.opsPerSec * share));
    process.stdout.write(
      `maximum: ${probe.opsPerSec.toFixed(0)} ops/s (p99 ${probe.p99.toFixed(1)} ms, errors ${probe.errors}); holding ${rate} ops/s (${share * 100} %) for ${minutes} min\n`,
    );
    process.stdout.write('minute  ops/s    p50 ms  p99 ms  errors  server RSS MB  server CPU s / 1000 ops\n');
    const rows = await holdRate(rate, minutes * 60_000, pid, (m) =>
      process.stdout.write(
        `${String(m.minute).padStart(6)}  ${m.opsPerSec.toFixed(0).padStart(6)}  ${m.p50.toFixed(1).padStart(7)}  ${m.p99.toFixed(1).padStart(6)}  ${String(m.errors).padStart(6)}  ${m.rssMb.toFixed(0).padStart(13)}  ${m.cpuPer1000.toFixed(2).padStart(8)}\n`,
      ),
    );
    const first = rows[0];
    const last = rows.at(-1);
    const problems: string[] = [];
    const errors = rows.reduce((s, r) => s + r.errors, 0);
    if (errors > 0) problems.push(`${errors} errors`);
    if (first && last && last.rssMb > first.rssMb * 1.25) problems.push(`memory grew from ${first.rssMb.toFixed(0)} to ${last.rssMb.toFixed(0)} MB`);
    if (first && last && last.p99 > first.p99 * 3 && last.p99 > 20) problems.push(`p99 drifted from ${first.p99.toFixed(1)} to ${last.p99.toFixed(1)} ms`);
    if (rows.length > 0 && rows.some((r) => r.opsPerSec < rate * 0.9)) problems.push('the rate was not held in every minute');
    process.stdout.write(problems.length ? `FAILED: ${problems.join('; ')}\n` : 'held: no error, flat memory, stable p99\n');
    process.exitCode = problems.length ? 1 : 0;
  } finally {
    await stopServer(server);
  }
}

main().catch((err) => {
  process.stderr.write(`soak failed: ${(err as Error).message}\n`);
  process.exit(1);
});
