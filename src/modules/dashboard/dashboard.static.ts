import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyReply } from 'fastify';

/** Where `npm run build:web` puts the dashboard (vite build of web/dashboard). */
export const DASHBOARD_DIST = fileURLToPath(new URL('../../../dist/dashboard/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

/** Serves one built file, or the app's index.html for its client-side routes. */
export async function serveDashboardFile(reply: FastifyReply, path: string): Promise<FastifyReply> {
  const index = join(DASHBOARD_DIST, 'index.html');
  if (!existsSync(index)) {
    return reply
      .code(503)
      .type('text/plain; charset=utf-8')
      .send('The dashboard is not built: run "npm run build:web" (npm start and npm test build it when missing).');
  }
  const file = normalize(join(DASHBOARD_DIST, path));
  const inside = file.startsWith(DASHBOARD_DIST) && !path.split('/').includes('..');
  if (path && inside && existsSync(file) && statSync(file).isFile()) {
    // Vite names assets by content hash: they never change.
    const immutable = file.startsWith(`${DASHBOARD_DIST}assets${sep}`);
    return reply
      .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
      .type(TYPES[extname(file)] ?? 'application/octet-stream')
      .send(await readFile(file));
  }
  return reply
    .header('cache-control', 'no-cache')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .type(TYPES['.html'] as string)
    .send(await readFile(index));
}
