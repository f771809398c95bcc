/**
 * The examples' plain `node:http` plumbing (no framework): a route table of
 * `"METHOD /path/:param"` → handler, JSON in and out. Nothing here knows about Tollgate.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Req {
  params: Record<string, string>;
  query: URLSearchParams;
  body: Record<string, unknown>;
  /** This app's own address as the client reached it (for return URLs). */
  origin: string;
}
export interface Reply {
  status?: number;
  body: unknown;
}
export type Handler = (req: Req) => Promise<Reply> | Reply;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(String(body.error ?? status));
  }
}

/** A required string field of the body or query, else 400. */
export function field(req: Req, name: string): string {
  const v = req.body[name] ?? req.query.get(name) ?? req.params[name];
  if (typeof v !== 'string' || v === '') throw new HttpError(400, { error: 'invalid_request', message: `${name} is required` });
  return v;
}

export function createServer(routes: Record<string, Handler>): http.Server {
  const table = Object.entries(routes).map(([key, handler]) => {
    const [method, path] = key.split(' ') as [string, string];
    const names: string[] = [];
    const pattern = new RegExp(
      `^${path.replace(/:(\w+)/g, (_, n: string) => {
        names.push(n);
        return '([^/]+)';
      })}$`,
    );
    return { method, pattern, names, handler };
  });
  return http.createServer(async (req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
      let raw = '';
      for await (const chunk of req) raw += chunk;
      let body: Record<string, unknown> = {};
      try {
        body = raw ? JSON.parse(raw) : {};
      } catch {
        return send(400, { error: 'invalid_json' });
      }
      for (const r of table) {
        const m = r.method === req.method ? r.pattern.exec(url.pathname) : null;
        if (!m) continue;
        const params = Object.fromEntries(r.names.map((n, i) => [n, decodeURIComponent(m[i + 1] ?? '')]));
        const out = await r.handler({ params, query: url.searchParams, body, origin: url.origin });
        return send(out.status ?? 200, out.body);
      }
      send(404, { error: 'not_found' });
    } catch (err) {
      if (err instanceof HttpError) return send(err.status, err.body);
      // An API client's error carrying a 4xx status (an unknown customer, a bad request): the
      // caller's mistake, passed on as such; anything else is this app's failure.
      const e = err as { status?: unknown; code?: unknown; message?: unknown };
      if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) return send(e.status, { error: e.code ?? 'request_failed', message: e.message });
      console.error(err);
      send(500, { error: 'internal_error' });
    }
  });
}

/** Listens on `port` (0: a random one) and resolves with the base URL. */
export async function listen(server: http.Server, port = 0): Promise<string> {
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
