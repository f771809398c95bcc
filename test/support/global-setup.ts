import pg from 'pg';

/** With DATABASE_URL, start from empty schemas once per run; every harness then migrates its own schema. */
export default async function setup(): Promise<void> {
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
