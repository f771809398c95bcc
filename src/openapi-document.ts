import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadConfig } from './config.ts';
import { openDb } from './db/db.ts';
import { createTollgate } from './server.ts';

/**
 * The OpenAPI document as a default Tollgate (PUBLIC_URL http://localhost:4242) serves it at
 * /openapi.json. `npm run openapi` writes it to openapi.json; test/openapi.test.ts fails when the
 * served document differs from that file.
 */
export async function buildOpenApiDocument(): Promise<Record<string, unknown>> {
  const config = loadConfig({
    TOLLGATE_ENCRYPTION_KEY: `k1:${randomBytes(32).toString('base64')}`,
    TOLLGATE_DATA_DIR: '/tmp/tollgate-openapi-unused',
    TOLLGATE_RUNNER_INTERVAL_MS: '0',
    LOG_LEVEL: 'silent',
  } as NodeJS.ProcessEnv);
  const db = await openDb({ dataDir: 'memory://', poolSize: 1 });
  const tg = await createTollgate({ config: { ...config, demo: false, publicUrl: 'http://localhost:4242' }, db, runner: false, logger: false });
  try {
    const res = await tg.app.inject({ method: 'GET', url: '/openapi.json' });
    return JSON.parse(res.body) as Record<string, unknown>;
  } finally {
    await tg.close();
    await db.close();
  }
}

export function serializeDocument(doc: unknown): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const out = resolve(process.argv[2] ?? 'openapi.json');
  writeFileSync(out, serializeDocument(await buildOpenApiDocument()));
  console.log(`wrote ${out}`);
}
