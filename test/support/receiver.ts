import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** What the receiver answers: a status (with headers and body, after `delayMs`), or 'hang' to never answer. */
export type Reply = { status: number; headers?: Record<string, string>; body?: string; delayMs?: number } | 'hang';

/**
 * A local webhook receiver on 127.0.0.1. Each path answers from its queue of replies (the last
 * one repeats); every request is recorded.
 */
export interface Receiver {
  url(path: string): string;
  reply(path: string, ...replies: Reply[]): void;
  received(path?: string): Received[];
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const log: Received[] = [];
  const queues = new Map<string, Reply[]>();
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      log.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const q = queues.get(path) ?? [];
      const r: Reply = (q.length > 1 ? q.shift() : q[0]) ?? { status: 200, body: 'ok' };
      if (r === 'hang') {
        hanging.add(res);
        return;
      }
      const answer = () => {
        if (res.destroyed) return;
        res.writeHead(r.status, r.headers ?? {});
        res.end(r.body ?? '');
      };
      if (r.delayMs) {
        hanging.add(res);
        setTimeout(answer, r.delayMs);
      } else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    reply: (path, ...replies) => queues.set(path, replies),
    received: (path) => (path ? log.filter((r) => r.path === path) : [...log]),
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
