import type { FastifyInstance } from 'fastify';

/** Prometheus text exposition of this process's own metrics (each instance is scraped on its own). */
export function registerPrometheus(app: FastifyInstance): void {
  const byStatus = new Map<string, number>();
  let durationSum = 0;
  app.addHook('onResponse', async (_req, reply) => {
    const k = `${Math.floor(reply.statusCode / 100)}xx`;
    byStatus.set(k, (byStatus.get(k) ?? 0) + 1);
    durationSum += reply.elapsedTime / 1000;
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    const mem = process.memoryUsage();
    const cpu = process.cpuUsage();
    const lines = [
      '# HELP process_resident_memory_bytes Resident memory size in bytes.',
      '# TYPE process_resident_memory_bytes gauge',
      `process_resident_memory_bytes ${mem.rss}`,
      '# HELP nodejs_heap_used_bytes V8 heap used.',
      '# TYPE nodejs_heap_used_bytes gauge',
      `nodejs_heap_used_bytes ${mem.heapUsed}`,
      '# HELP process_cpu_seconds_total User and system CPU time.',
      '# TYPE process_cpu_seconds_total counter',
      `process_cpu_seconds_total ${(cpu.user + cpu.system) / 1e6}`,
      '# HELP process_uptime_seconds Seconds since the process started.',
      '# TYPE process_uptime_seconds gauge',
      `process_uptime_seconds ${process.uptime()}`,
      '# HELP http_requests_total HTTP responses by status class.',
      '# TYPE http_requests_total counter',
      ...[...byStatus].map(([k, v]) => `http_requests_total{status="${k}"} ${v}`),
      '# HELP http_request_duration_seconds_sum Total time spent answering requests.',
      '# TYPE http_request_duration_seconds_sum counter',
      `http_request_duration_seconds_sum ${durationSum}`,
    ];
    return reply.type('text/plain; version=0.0.4').send(`${lines.join('\n')}\n`);
  });
}
