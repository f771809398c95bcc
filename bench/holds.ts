import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { closedLoop, type Figures, fmt, httpLoad, type SectionOpts } from './lib.ts';

/**
 * Holds (issue 16): hold + capture pairs over HTTP at 32 clients, an Idempotency-Key on each
 * request, customers spread; as a ratio to the one-at-a-time deduct ceiling of the same run (a
 * pair is two requests, so the ratio counts requests). Then the holds batcher's figures from /metrics.
 */
export async function holdsBench(o: SectionOpts): Promise<void> {
  const clients = 32;
  o.out('');
  o.out(`PostgreSQL — holds: POST hold then POST capture (Idempotency-Key on each), spread, ${clients} clients`);
  const base = await o.ceiling(clients);
  o.out(fmt(base));
  // node:http with keep-alive (fetch costs the client more CPU than the server spends on a request, on a small machine).
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients * 2 });
  const target = new URL(o.url);
  const post = (path: string, body: unknown): Promise<{ id?: string }> =>
    new Promise((resolve, reject) => {
      const data = JSON.stringify(body);
      const req = http.request(
        {
          host: target.hostname,
          port: target.port,
          path,
          method: 'POST',
          agent,
          headers: { authorization: `Bearer ${o.key}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), 'idempotency-key': randomUUID() },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d) => {
            text += d;
          });
          res.on('end', () => ((res.statusCode ?? 500) >= 300 ? reject(new Error(`${path}: ${res.statusCode}`)) : resolve(JSON.parse(text))));
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  const scrape = async () => {
    const text = await (await fetch(`${o.url}/metrics`)).text();
    const num = (name: string) => Number(new RegExp(`^${name}\\{path="holds"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    return { batches: num('tollgate_group_commit_batches_total'), ops: num('tollgate_group_commit_ops_total'), largest: num('tollgate_group_commit_largest_batch') };
  };
  const pair = async () => {
    const c = `c${Math.floor(Math.random() * o.customers)}`;
    const h = await post(`/v1/customers/${c}/credits/holds`, { amount: 2 });
    await post(`/v1/holds/${h.id}/capture`, { amount: 1 });
  };
  await closedLoop('warm-up', clients, 1000, pair);
  const before = await scrape();
  const pairs = await closedLoop('hold + capture (HTTP, keyed)', clients, o.ms, pair);
  const after = await scrape();
  o.out(fmt(pairs));
  const batches = after.batches - before.batches;
  const ops = after.ops - before.ops;
  o.out(`  holds batcher: ${batches} batches, ${ops} ops, ${(ops / Math.max(1, batches)).toFixed(1)} ops per batch, largest ${after.largest}`);
  const line = `  ratio hold+capture requests / deduct ceiling at ${clients} clients spread: ${((2 * pairs.opsPerSec) / base.opsPerSec).toFixed(2)}   (pair p99 ${pairs.p99.toFixed(1)} ms, ${pairs.errors} errors)`;
  o.out(line);
  o.ratios.push(line);
  // For scale: keyed deducts in the same run, with the same client (two per loop, as a pair) and with autocannon.
  const fetched = await closedLoop('deduct x2 (HTTP, keyed, same client)', clients, o.ms, async () => {
    const c = `c${Math.floor(Math.random() * o.customers)}`;
    await post(`/v1/customers/${c}/credits/deduct`, { amount: 1 });
    await post(`/v1/customers/${c}/credits/deduct`, { amount: 1 });
  });
  o.out(fmt(fetched));
  o.out(`  ratio hold+capture pairs / deduct pairs, same client: ${(pairs.opsPerSec / fetched.opsPerSec).toFixed(2)}`);
  const deducts = await httpLoad('deduct (HTTP, keyed, autocannon), for scale', {
    url: o.url,
    clients,
    ms: o.ms,
    key: o.key,
    body: '{"amount":1}',
    keyed: true,
    path: () => `/v1/customers/c${Math.floor(Math.random() * o.customers)}/credits/deduct`,
  });
  o.out(fmt(deducts));
  o.out(`  ratio hold+capture requests / keyed deduct requests: ${((2 * pairs.opsPerSec) / deducts.opsPerSec).toFixed(2)}`);
  agent.destroy();
}
