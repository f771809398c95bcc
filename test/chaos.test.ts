import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { runChaos } from '../bench/chaos.ts';
import { randomToken } from '../src/domain/ids.ts';

/** A fresh schema of the test database for the server process, or PGlite (a data dir the server owns). */
async function databaseUrl(): Promise<string | undefined> {
  const url = process.env.DATABASE_URL;
  if (!url) return undefined;
  const schema = `t_${randomToken(12).toLowerCase()}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const scoped = new URL(url);
  scoped.searchParams.set('options', `-c search_path=${schema}`);
  return scoped.toString();
}

describe('issue 17 item 1: chaos (CI size) — the real server killed with SIGKILL under mixed load', () => {
  it(`after kill -9 and restarts, every key resent: balances = Σ ledger, ≥ 0, held = Σ open holds, no key in progress, one effect per key and event, every acknowledged op present, every event delivered (${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'})`, async () => {
    const report = await runChaos({ seconds: 20, killEveryMs: 4000, databaseUrl: await databaseUrl() });
    expect(report.violations).toEqual([]);
    expect(report.kills).toBeGreaterThanOrEqual(1);
    expect(report.acknowledged).toBeGreaterThan(0);
    expect(report.outboxEvents).toBeGreaterThan(0);
  }, 600_000);
});
