import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import autocannon from 'autocannon';

export interface Figures {
  name: string;
  clients: number;
  opsPerSec: number;
  p50: number;
  p99: number;
  errors: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** Runs `op` from `clients` concurrent loops for `ms`; per-op latency in ms. */
export async function closedLoop(name: string, clients: number, ms: number, op: (client: number, i: number) => Promise<void>): Promise<Figures> {
  const lat: number[] = [];
  let errors = 0;
  const end = performance.now() + ms;
  let i = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_v, c) => {
      while (performance.now() < end) {
        const t = performance.now();
        try {
          await op(c, i++);
        } catch {
          errors++;
        }
        lat.push(performance.now() - t);
      }
    }),
  );
  lat.sort((a, b) => a - b);
  return { name, clients, opsPerSec: lat.length / (ms / 1000), p50: percentile(lat, 50), p99: percentile(lat, 99), errors };
}

/** HTTP load with autocannon; `path` is chosen per request. */
export async function httpLoad(
  name: string,
  opts: {
    url: string;
    clients: number;
    ms: number;
    key: string;
    path: () => string;
    body: string;
    bodyFor?: () => string;
    /** Extra headers per request (e.g. a unique Idempotency-Key). */
    headersFor?: () => Record<string, string>;
    method?: 'POST' | 'GET';
  },
): Promise<Figures> {
  const result = await autocannon({
    url: opts.url,
    connections: opts.clients,
    duration: opts.ms / 1000,
    pipelining: 1,
    requests: [
      {
        method: opts.method ?? 'POST',
        headers: { authorization: `Bearer ${opts.key}`, 'content-type': 'application/json' },
        body: opts.body,
        setupRequest: (req: autocannon.Request) => ({
          ...req,
          path: opts.path(),
          ...(opts.bodyFor ? { body: opts.bodyFor() } : {}),
          ...(opts.headersFor ? { headers: { ...req.headers, ...opts.headersFor() } } : {}),
        }),
      },
    ],
  });
  const non2xx = result.non2xx + result.errors + result.timeouts;
  return {
    name,
    clients: opts.clients,
    opsPerSec: result.requests.total / (opts.ms / 1000),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: non2xx,
  };
}

export async function startServer(env: Record<string, string>, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], {
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', TOLLGATE_RUNNER_INTERVAL_MS: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += String(d);
  });
  const deadline = Date.now() + 60_000;
  while (!out.includes('Tollgate is running')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`server did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return child;
}

export async function stopServer(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  if (child.exitCode === null) await once(child, 'exit');
}

export function fmt(f: Figures): string {
  return `${f.name.padEnd(44)} c=${String(f.clients).padStart(2)}  ${f.opsPerSec.toFixed(0).padStart(7)} ops/s  p50 ${f.p50.toFixed(2).padStart(6)} ms  p99 ${f.p99.toFixed(2).padStart(7)} ms${f.errors ? `  errors ${f.errors}` : ''}`;
}
