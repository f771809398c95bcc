import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/**
 * Prometheus exposition of this process's own metrics at `/metrics` (each instance is scraped on its own):
 * prom-client's default process and Node.js metrics, plus request counts and durations by route.
 * Each app gets its own registry, so several apps in one process (tests) never share counters.
 */
export function registerPrometheus(app: FastifyInstance): void {
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
