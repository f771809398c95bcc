import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';

const require = createRequire(import.meta.url);

/** The Scalar browser bundle, read once from node_modules on first request (never from a CDN). */
let bundle: Buffer | undefined;
function scalarBundle(): Buffer {
  bundle ??= readFileSync(require.resolve('@scalar/api-reference/browser/standalone.js'));
  return bundle;
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Tollgate API reference</title>
</head>
<body>
  <script id="api-reference" data-url="/openapi.json"></script>
  <script src="/docs/scalar.js"></script>
</body>
</html>
`;

/** `/docs`: the API reference (Scalar) over `/openapi.json`, served from this process. */
export function registerApiReference(app: FastifyInstance): void {
  app.get('/docs', { schema: { hide: true } }, async (_req, reply) => reply.type('text/html; charset=utf-8').send(PAGE));
  app.get('/docs/scalar.js', { schema: { hide: true } }, async (_req, reply) =>
    reply.type('application/javascript; charset=utf-8').header('cache-control', 'public, max-age=3600').send(scalarBundle()),
  );
}
