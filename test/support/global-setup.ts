import { existsSync } from 'node:fs';
import pg from 'pg';
import { ensureSdkBuilt } from './sdk-build.ts';

/**
 * Builds the SDK when its build is stale. With DATABASE_URL, start from empty schemas once per run;
 * every harness then migrates its own schema.
 */
export default async function setup(): Promise<void> {
  // test/sdk*.test.ts import @tollgate/sdk as built (vitest.config.ts points the name at sdk/dist).
  ensureSdkBuilt();
  const browser = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(browser)) {
    const how = `Chromium is not installed at ${browser}: install it with \`apt-get install -y chromium\` (or set CHROMIUM_PATH).`;
    if (process.env.CI) throw new Error(`${how} CI runs the browser tests.`);
    process.stderr.write(`\n  ${how}\n  The browser tests are skipped; everything else runs.\n\n`);
  }
  const url = process.env.DATABASE_URL;
  if (!url) return;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;');
  // Each test file's harness works in a schema of its own (t_...); drop the previous run's.
  const old = await client.query<{ nspname: string }>("SELECT nspname FROM pg_namespace WHERE nspname LIKE 't\\_%'");
  for (const { nspname } of old.rows) await client.query(`DROP SCHEMA ${nspname} CASCADE`);
  await client.end();
}
