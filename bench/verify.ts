/**
 * Customer API keys (docs/api-keys.md), in one run beside the same run's ceiling:
 * `POST /v1/api-keys/verify` over HTTP (one lookup by hash + the customer's entitlements; with a usage
 * budget, one atomic decrement more, with the stream's change-log trigger on and off), the SDK's
 * in-process `verifyLocal` from the push stream, and how soon a revocation over HTTP reaches it.
 */
import type pg from 'pg';
import { ApiKeyVerifier } from '../sdk/src/api-key-cache.ts';
import { randomToken } from '../src/domain/ids.ts';
import { hashApiKey } from '../src/modules/api-keys/api-keys.service.ts';
import { type Figures, fmt, httpLoad, percentile } from './lib.ts';

const pct = (xs: number[], p: number) => percentile([...xs].sort((a, b) => a - b), p);

export async function verifyBench(o: {
  url: string;
  key: string;
  pool: pg.Pool;
  project: string;
  customers: number;
  ms: number;
  out: (s: string) => void;
  ratios: string[];
  /** The deduct ceiling at 32 clients spread, measured now. */
  ceiling: () => Promise<Figures>;
}): Promise<void> {
  const { url, key, pool, ms, out, ratios } = o;
  const n = o.customers;
  out('');
  out(`PostgreSQL — POST /v1/api-keys/verify, ${n} keys, spread, 32 clients`);
  const rawKeys = Array.from({ length: n }, () => `bench_${randomToken(43)}`);
  await pool.query(
    `INSERT INTO customer_api_keys (project_id, id, customer_id, key_hash, preview, remaining, created_at)
     SELECT $1, 'ckey_bench_' || g, 'c' || g, h, 'bench_…', CASE WHEN g % 2 = 1 THEN 1000000000 END, now()
     FROM unnest($2::text[]) WITH ORDINALITY AS u(h, n), LATERAL (SELECT n - 1 AS g) x`,
    [o.project, rawKeys.map(hashApiKey)],
  );
  await pool.query('ANALYZE customer_api_keys');
  const verifyBase = await o.ceiling();
  out(fmt(verifyBase));
  const plain = () => rawKeys[2 * Math.floor(Math.random() * (n / 2))]!;
  const budgeted = () => rawKeys[2 * Math.floor(Math.random() * (n / 2)) + 1]!;
  const load = (label: string, pick: () => string) =>
    httpLoad(`POST /v1/api-keys/verify (${label})`, { url, clients: 32, ms, key, body: '', path: () => '/v1/api-keys/verify', bodyFor: () => JSON.stringify({ key: pick() }) });
  const results: Record<string, Figures> = {};
  for (const [label, pick] of [
    ['verify, no budget', plain],
    ['verify, with remaining', budgeted],
  ] as const) {
    const f = await load(label, pick);
    results[label] = f;
    out(fmt(f));
    const vline = `  ratio ${label} / ceiling at 32 clients spread: ${(f.opsPerSec / verifyBase.opsPerSec).toFixed(2)}   (HTTP p99 ${f.p99.toFixed(1)} ms)`;
    out(vline);
    ratios.push(vline);
  }
  // Each budgeted verify updates its key, so the stream logs it (migration 0035): its cost, same run.
  await pool.query('ALTER TABLE customer_api_keys DISABLE TRIGGER stream_customer_api_keys_upd');
  let bare: Figures;
  try {
    bare = await load('verify, with remaining, stream trigger off', budgeted);
  } finally {
    await pool.query('ALTER TABLE customer_api_keys ENABLE TRIGGER stream_customer_api_keys_upd');
  }
  out(fmt(bare));
  const tline = `  ratio verify with remaining, stream trigger on / off: ${(results['verify, with remaining']!.opsPerSec / bare.opsPerSec).toFixed(2)}   (p99 ${results['verify, with remaining']!.p99.toFixed(1)} vs ${bare.p99.toFixed(1)} ms)`;
  out(tline);
  ratios.push(tline);

  // The SDK's cache: every key holder's snapshot at connect, then verifyLocal (SHA-256 + a map lookup).
  out('');
  out('PostgreSQL — verify from the SDK cache (ApiKeyVerifier.verifyLocal) vs HTTP (same run)');
  const t0 = performance.now();
  const verifier = new ApiKeyVerifier({ baseUrl: url, apiKey: key });
  await verifier.start();
  try {
    out(`  connect + initial snapshots of ${n} key holders: ${(performance.now() - t0).toFixed(0)} ms, ${verifier.size} keys held`);
    if (verifier.size < n) throw new Error(`the verifier holds ${verifier.size} of ${n} keys`);
    const chunk = 1000;
    const perOp: number[] = [];
    let done = 0;
    let valid = 0;
    const end = performance.now() + ms;
    while (performance.now() < end) {
      const t = performance.now();
      for (let i = 0; i < chunk; i++) if (verifier.verifyLocal(rawKeys[(2 * (done + i)) % n]!)?.valid) valid++;
      perOp.push((performance.now() - t) / chunk);
      done += chunk;
    }
    if (valid !== done) throw new Error(`verifyLocal answered ${valid} of ${done} valid`);
    const local: Figures = { name: 'verifyLocal (sync, SDK cache)', clients: 1, opsPerSec: done / (ms / 1000), p50: pct(perOp, 50), p99: pct(perOp, 99), errors: 0 };
    out(`${fmt(local)}   (p99 of 1000-call chunks, per call)`);
    const http = results['verify, no budget']!;
    const r1 = `  ratio verify from the SDK cache / ceiling at 32 clients spread: ${(local.opsPerSec / verifyBase.opsPerSec).toFixed(0)}x; / HTTP verify: ${(local.opsPerSec / http.opsPerSec).toFixed(0)}x   (verifyLocal ${(local.opsPerSec / 1e6).toFixed(2)} M/s on one core, p99 ${(local.p99 * 1000).toFixed(2)} µs)`;
    out(r1);
    ratios.push(r1);

    // Revocation: from the start of the DELETE request until verifyLocal answers `revoked` (the time
    // the SDK's snapshot arrived, which may be before the HTTP reply: the revoking instance sends it
    // right after the commit), beside the request's own reply time.
    const fromRequest: number[] = [];
    const reply: number[] = [];
    let beforeReply = 0;
    for (let i = 0; i < 200; i++) {
      const g = 2 * i;
      const raw = rawKeys[g]!;
      const seen = new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`revocation of ckey_bench_${g} not seen`)), 10_000);
        verifier.onSnapshot = () => {
          if (verifier.verifyLocal(raw)?.code === 'revoked') {
            clearTimeout(timer);
            verifier.onSnapshot = null;
            resolve(performance.now());
          }
        };
      });
      const a = performance.now();
      const r = await fetch(`${url}/v1/api-keys/ckey_bench_${g}`, { method: 'DELETE', headers: { authorization: `Bearer ${key}` } });
      await r.text();
      if (r.status !== 200) throw new Error(`revoke: HTTP ${r.status}`);
      const b = performance.now();
      const c = await seen;
      fromRequest.push(c - a);
      reply.push(b - a);
      if (c < b) beforeReply++;
    }
    const r2 = `  revocation → verifyLocal says revoked, from the DELETE request's start: p50 ${pct(fromRequest, 50).toFixed(2)} ms p99 ${pct(fromRequest, 99).toFixed(2)} ms (the DELETE's own reply p50 ${pct(reply, 50).toFixed(2)} ms p99 ${pct(reply, 99).toFixed(2)} ms; seen before the reply ${beforeReply} of 200; target p99 < 50 ms)`;
    out(r2);
    ratios.push(r2);
  } finally {
    verifier.close();
  }
}
