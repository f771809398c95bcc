/**
 * Decisions without a round trip (docs/sdk-realtime.md), measured in the same run as the HTTP check:
 * the SDK's in-process check from streamed snapshots, how soon a change reaches a subscriber, and
 * `POST /v1/track/batch` against single `POST /v1/track`.
 */
import { EntitlementCache } from '../sdk/src/realtime.ts';
import { type Figures, fmt, httpLoad, percentile } from './lib.ts';

type Out = (s: string) => void;

const pct = (xs: number[], p: number) => percentile([...xs].sort((a, b) => a - b), p);

async function until(cache: EntitlementCache, customer: string, pred: () => boolean): Promise<void> {
  if (pred()) return;
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no snapshot of ${customer}`)), 10_000);
    cache.onSnapshot = (s) => {
      if (s.customer_id === customer && pred()) {
        clearTimeout(t);
        cache.onSnapshot = null;
        resolve();
      }
    };
  });
}

export async function realtimeBench(o: {
  url: string;
  key: string;
  ms: number;
  customers: number;
  out: Out;
  ratios: string[];
  /** To measure POST /v1/track without the stream's triggers (same run). */
  sql: (text: string) => Promise<unknown>;
}): Promise<void> {
  const { url, key, ms, out, ratios } = o;
  const spread = () => `c${Math.floor(Math.random() * o.customers)}`;
  out('');
  out('PostgreSQL — decisions without a round trip: in-process check vs POST /v1/check (same run)');
  const http = await httpLoad('POST /v1/check (HTTP) baseline', {
    url,
    clients: 32,
    ms,
    key,
    body: '',
    path: () => '/v1/check',
    bodyFor: () => JSON.stringify({ customer_id: spread(), feature: 'api_calls', quantity: 1 }),
  });
  out(fmt(http));

  const ids = Array.from({ length: 1000 }, (_, i) => `c${i}`);
  const cache = new EntitlementCache({ baseUrl: url, apiKey: key, customers: ids });
  await cache.start();
  try {
    if (!cache.snapshotOf('c0')) throw new Error('no initial snapshots');
    // Synchronous checkLocal: time chunks of 1000 calls (a single call is below the timer's resolution).
    const chunk = 1000;
    const perOp: number[] = [];
    let n = 0;
    let allowed = 0;
    const end = performance.now() + ms;
    while (performance.now() < end) {
      const t = performance.now();
      for (let i = 0; i < chunk; i++) if (cache.checkLocal(ids[(n + i) % 1000]!, 'api_calls', 1)?.allowed) allowed++;
      perOp.push((performance.now() - t) / chunk);
      n += chunk;
    }
    if (allowed === 0) throw new Error('in-process check decided nothing');
    const local: Figures = { name: 'in-process checkLocal (sync)', clients: 1, opsPerSec: n / (ms / 1000), p50: pct(perOp, 50), p99: pct(perOp, 99), errors: 0 };
    out(`${fmt(local)}   (p99 of 1000-call chunks, per call)`);
    // The async check() (a decision from the cache still resolves a promise).
    let m = 0;
    const end2 = performance.now() + ms / 2;
    while (performance.now() < end2) {
      for (let i = 0; i < chunk; i++) await cache.check(ids[(m + i) % 1000]!, 'api_calls', 1);
      m += chunk;
    }
    const asyncOps = m / (ms / 2000);
    out(`${'in-process check() (async)'.padEnd(44)} c= 1  ${asyncOps.toFixed(0).padStart(7)} ops/s`);
    const r1 = `  ratio in-process checkLocal / HTTP check (32 clients): ${(local.opsPerSec / http.opsPerSec).toFixed(0)}x   (checkLocal ${(local.opsPerSec / 1e6).toFixed(2)} M/s, p99 ${(local.p99 * 1000).toFixed(3)} µs; target ≥ 1 M/s, p99 < 50 µs)`;
    out(r1);
    ratios.push(r1);

    // Change visibility: a track through HTTP until the subscriber holds the new count.
    const reply: number[] = [];
    const start: number[] = [];
    for (let i = 0; i < 200; i++) {
      const c = ids[i % 1000]!;
      const before = cache.snapshotOf(c)?.features.api_calls?.usage ?? 0;
      const t0 = performance.now();
      const r = await fetch(`${url}/v1/track`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ customer_id: c, feature: 'api_calls', quantity: 1 }),
      });
      await r.json();
      const t1 = performance.now();
      await until(cache, c, () => (cache.snapshotOf(c)?.features.api_calls?.usage ?? 0) > before);
      const t2 = performance.now();
      start.push(t2 - t0);
      reply.push(Math.max(0, t2 - t1));
    }
    const r2 = `  change → subscriber (stream): after the committed reply p50 ${pct(reply, 50).toFixed(2)} ms p99 ${pct(reply, 99).toFixed(2)} ms; from the track request p50 ${pct(start, 50).toFixed(2)} ms p99 ${pct(start, 99).toFixed(2)} ms (target p99 < 50 ms)`;
    out(r2);
    ratios.push(r2);
  } finally {
    cache.close();
  }

  // Batched usage: events/s through POST /v1/track/batch (1000 events a request) vs POST /v1/track.
  out('');
  out('PostgreSQL — POST /v1/track/batch vs POST /v1/track (metered feature, spread)');
  // The cost of the stream on the write path: the same track while the project holds a stream
  // lease (every change logged and notified) and without one (migration 0037: nothing logged).
  const lease = async (method: 'POST' | 'DELETE', id?: string) => {
    const r = await fetch(`${url}/v1/stream/leases${method === 'DELETE' ? `/${id}` : ''}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
      ...(method === 'POST' ? { body: '{}' } : {}),
    });
    return (await r.json()) as { id: string };
  };
  const trackLoad = (label: string) =>
    httpLoad(label, {
      url,
      clients: 32,
      ms,
      key,
      body: '',
      path: () => '/v1/track',
      bodyFor: () => JSON.stringify({ customer_id: spread(), feature: 'api_calls', quantity: 1 }),
    });
  const held = await lease('POST');
  let single: Figures;
  try {
    single = await trackLoad('POST /v1/track, stream lease live');
  } finally {
    await lease('DELETE', held.id);
  }
  out(fmt(single));
  const bare = await trackLoad('POST /v1/track, no stream lease');
  out(fmt(bare));
  const r0 = `  ratio track while a stream lease is live / without: ${(single.opsPerSec / bare.opsPerSec).toFixed(2)}   (p99 ${single.p99.toFixed(1)} vs ${bare.p99.toFixed(1)} ms)`;
  out(r0);
  ratios.push(r0);
  let ev = 0;
  const batchOf = () =>
    JSON.stringify({
      events: Array.from({ length: 1000 }, () => ({ event_id: `b${process.pid}_${ev++}`, customer_id: spread(), feature: 'api_calls', quantity: 1 })),
    });
  const batch = await httpLoad('POST /v1/track/batch (1000 events)', { url, clients: 4, ms, key, body: '', path: () => '/v1/track/batch', bodyFor: batchOf });
  out(fmt(batch));
  const r3 = `  ratio track/batch events/s / single track ops/s: ${((batch.opsPerSec * 1000) / single.opsPerSec).toFixed(1)}x   (${(batch.opsPerSec * 1000).toFixed(0)} events/s vs ${single.opsPerSec.toFixed(0)}/s; batch p99 ${batch.p99.toFixed(0)} ms)`;
  out(r3);
  ratios.push(r3);
}
