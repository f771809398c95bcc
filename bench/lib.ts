import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

/** What a bench section over HTTP gets from bench/run.ts: the server, its key, and the same run's ceiling. */
export interface SectionOpts {
  url: string;
  key: string;
  ms: number;
  customers: number;
  out: (s: string) => void;
  ratios: string[];
  ceiling: (clients: number) => Promise<Figures>;
}

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
    /** A fresh Idempotency-Key on every request, as the SDK sends. */
    keyed?: boolean;
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
          ...(opts.headersFor || opts.keyed
            ? { headers: { ...req.headers, ...(opts.keyed ? { 'idempotency-key': randomUUID() } : {}), ...(opts.headersFor ? opts.headersFor() : {}) } }
            : {}),
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
  // BENCH_CPU_PROF=<dir>: the server writes a V8 CPU profile there when it stops (open it in Chrome's DevTools).
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child = spawn(process.execPath, [...prof, '--import', 'tsx', 'src/cli.ts', 'start'], {
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

// CPU and memory, read from /proc (Linux): the server is a child process and PostgreSQL's backends
// are other processes, so process.cpuUsage() only serves the load generator itself.
const CLK_TCK = 100;

/** CPU seconds (user + system) a process has used so far; 0 if it is gone. */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** Peak resident memory of a process (VmHWM), in MB. */
export function peakRssMbOf(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

export interface Measured extends Figures {
  /** CPU seconds per 1,000 ops: the Tollgate server, PostgreSQL's backends, the load generator. */
  serverCpuPerK: number | null;
  pgCpuPerK: number | null;
  genCpuPerK: number;
  /** Peak RSS of the server so far, MB. */
  serverRssMb: number | null;
}

/**
 * Runs a load and measures what it cost: the server's CPU (`serverPid`), PostgreSQL's (the backends
 * `pgPids()` lists at the end; a backend first seen then counts from 0) and this process's own.
 */
export async function measured(
  run: () => Promise<Figures>,
  opts: { ms: number; serverPid?: number; pgPids?: () => Promise<number[]> },
): Promise<Measured> {
  const before = new Map<number, number>();
  for (const pid of (await opts.pgPids?.()) ?? []) before.set(pid, cpuSecondsOf(pid));
  const server0 = opts.serverPid ? cpuSecondsOf(opts.serverPid) : 0;
  const gen0 = process.cpuUsage();
  const f = await run();
  const gen = process.cpuUsage(gen0);
  const server = opts.serverPid ? cpuSecondsOf(opts.serverPid) - server0 : null;
  let pgCpu: number | null = null;
  if (opts.pgPids) {
    pgCpu = 0;
    for (const pid of await opts.pgPids()) pgCpu += cpuSecondsOf(pid) - (before.get(pid) ?? 0);
  }
  const kOps = Math.max(1, (f.opsPerSec * opts.ms) / 1000) / 1000;
  return {
    ...f,
    serverCpuPerK: server === null ? null : server / kOps,
    pgCpuPerK: pgCpu === null ? null : pgCpu / kOps,
    genCpuPerK: (gen.user + gen.system) / 1e6 / kOps,
    serverRssMb: opts.serverPid ? peakRssMbOf(opts.serverPid) : null,
  };
}

const COLUMNS = ['workload', 'c', 'ops/s', 'p50 ms', 'p99 ms', '× 1-at-a-time', '× batched SQL', 'CPU s/1k srv', 'pg', 'gen', 'srv peak MB', 'errors'];

/** The bench's one table format: a header, then one row per measured load. */
export function tableHeader(): string {
  return `| ${COLUMNS.join(' | ')} |\n|${COLUMNS.map(() => ' --- ').join('|')}|`;
}

export function tableRow(m: Measured, ratios: { oneAtATime?: number; batched?: number } = {}): string {
  const n = (v: number | null | undefined, d = 2) => (v === null || v === undefined ? '—' : v.toFixed(d));
  return `| ${[
    m.name,
    String(m.clients),
    m.opsPerSec.toFixed(0),
    n(m.p50),
    n(m.p99),
    ratios.oneAtATime === undefined ? '—' : `${(m.opsPerSec / ratios.oneAtATime).toFixed(2)}×`,
    ratios.batched === undefined ? '—' : `${(m.opsPerSec / ratios.batched).toFixed(2)}×`,
    n(m.serverCpuPerK, 3),
    n(m.pgCpuPerK, 3),
    n(m.genCpuPerK, 3),
    n(m.serverRssMb, 0),
    String(m.errors),
  ].join(' | ')} |`;
}
