import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { groupCommitStats } from '../db/group-commit.ts';

/**
 * Prometheus exposition of this process's own metrics at `/metrics` (each instance is scraped on its own):
 * prom-client's default process and Node.js metrics, plus request counts and durations by route.
 * Each app gets its own registry, so several apps in one process (tests) never share counters.
 * The group-commit batchers of the app's database (`owner`) are read at each scrape: batches and
 * operations by path (`deduct`, `track`, `check`, `holds`), the largest batch, and the holds
 * batcher's operations by kind (`hold`, `capture`, `release`).
 */
export function registerPrometheus(app: FastifyInstance, owner: object): void {
  const register = new Registry();
  collectDefaultMetrics({ register });
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP responses by status class.',
    labelNames: ['status'] as const,
    registers: [register],
  });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time spent answering requests, by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [register],
  });
  const stats = () => groupCommitStats(owner);
  new Counter({
    name: 'tollgate_group_commit_batches_total',
    help: 'Group-commit batches applied (one transaction each), by path.',
    labelNames: ['path'] as const,
    registers: [register],
    collect() {
      this.reset();
      for (const s of stats()) this.inc({ path: s.path }, s.batches);
    },
  });
  new Counter({
    name: 'tollgate_group_commit_ops_total',
    help: 'Operations applied through group commit, by path.',
    labelNames: ['path'] as const,
    registers: [register],
    collect() {
      this.reset();
      for (const s of stats()) this.inc({ path: s.path }, s.ops);
    },
  });
  new Counter({
    name: 'tollgate_group_commit_ops_by_kind_total',
    help: 'Operations of a batcher that mixes kinds (holds: hold, capture, release), by path and kind.',
    labelNames: ['path', 'kind'] as const,
    registers: [register],
    collect() {
      this.reset();
      for (const s of stats()) for (const [kind, n] of Object.entries(s.byKind)) this.inc({ path: s.path, kind }, n);
    },
  });
  new Gauge({
    name: 'tollgate_group_commit_largest_batch',
    help: 'The largest group-commit batch since start, by path.',
    labelNames: ['path'] as const,
    registers: [register],
    collect() {
      this.reset();
      for (const s of stats()) this.set({ path: s.path }, s.largest);
    },
  });
  app.addHook('onResponse', async (req, reply) => {
    requests.inc({ status: `${Math.floor(reply.statusCode / 100)}xx` });
    duration.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    return reply.type(register.contentType).send(await register.metrics());
  });
}
