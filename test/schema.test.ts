import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './support/harness.ts';

/**
 * Issue 17 item 8: every table carries project_id and every primary key and unique key starts with
 * it, so a project can be the distribution key of a sharded deployment (docs/scaling.md).
 * The allow-list holds the tables that are global by nature, not per project.
 */
const GLOBAL_TABLES: Record<string, string> = {
  schema_migrations: 'the migration log of the database',
  projects: 'the tenant root: its id is the project id (a reference table when sharded)',
  operators: 'dashboard operators belong to the installation, not to one project',
  operator_sessions: "an operator's sessions",
  operator_setup_tokens: 'first-operator setup tokens',
  encryption_canaries: "the installation's encryption keys, checked at start",
  rate_limit_counters: 'unlogged per-window counters named by bucket; losing them is harmless',
};

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

describe('issue 17 item 8: keys by project', () => {
  it('every table has a project_id column, except the documented global tables', async () => {
    const r = await h.db.query<{ table_name: string }>(
      `SELECT t.table_name FROM information_schema.tables t
       WHERE t.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
         AND NOT EXISTS (SELECT 1 FROM information_schema.columns c
                         WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name AND c.column_name = 'project_id')
       ORDER BY 1`,
    );
    const tables = await h.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
    );
    expect(tables.rows[0]!.n).toBeGreaterThan(30); // the schema under test is the migrated one
    expect(r.rows.map((x) => x.table_name).filter((t) => !(t in GLOBAL_TABLES))).toEqual([]);
  });

  it('every primary key and unique key or index starts with project_id, except on the global tables', async () => {
    const r = await h.db.query<{ tbl: string; idx: string; first: string | null }>(
      `SELECT c.relname AS tbl, i.relname AS idx,
              (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum = x.indkey[0]) AS first
       FROM pg_index x
       JOIN pg_class c ON c.oid = x.indrelid
       JOIN pg_class i ON i.oid = x.indexrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = current_schema() AND x.indisunique
       ORDER BY 1, 2`,
    );
    expect(r.rows.length).toBeGreaterThan(30);
    const offending = r.rows.filter((x) => !(x.tbl in GLOBAL_TABLES) && x.first !== 'project_id').map((x) => `${x.tbl}.${x.idx}`);
    expect(offending).toEqual([]);
  });

  it('every foreign key between per-project tables carries project_id on both sides', async () => {
    const r = await h.db.query<{ tbl: string; ref: string; def: string }>(
      `SELECT conrelid::regclass::text AS tbl, confrelid::regclass::text AS ref, pg_get_constraintdef(oid) AS def
       FROM pg_constraint WHERE contype = 'f' AND connamespace = current_schema()::regnamespace`,
    );
    const offending = r.rows
      .filter((x) => !(x.ref.replace(/^.*\./, '') in GLOBAL_TABLES))
      .filter((x) => !/^FOREIGN KEY \(project_id, .*REFERENCES \S+\(project_id, /.test(x.def))
      .map((x) => `${x.tbl}: ${x.def}`);
    expect(offending).toEqual([]);
  });
});
