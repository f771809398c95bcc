import type { AddressInfo } from 'node:net';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { ManualClock } from '../../src/clock.ts';
import { type Config, loadConfig } from '../../src/config.ts';
import { type Db, openDb } from '../../src/db/db.ts';
import type { CatalogInput } from '../../src/domain/catalog.ts';
import { randomToken } from '../../src/domain/ids.ts';
import { pushCatalog } from '../../src/modules/catalog/catalog.service.ts';
import { createProject } from '../../src/modules/projects/projects.service.ts';
import { createTollgate, type Tollgate } from '../../src/server.ts';
import { ResponseChecker } from './openapi-check.ts';

export const TEST_ENCRYPTION_KEY = `k1:${Buffer.alloc(32, 7).toString('base64')}`;

export interface TestProject {
  id: string;
  key: string;
  publishableKey: string;
  /** Calls the API with this project's secret key (or `opts.key`). */
  call(method: InjectOptions['method'], url: string, body?: unknown, headers?: Record<string, string>): Promise<Res>;
}

export interface Res {
  status: number;
  body: any;
  headers: LightMyRequestResponse['headers'];
  raw: string;
}

export interface Harness {
  tg: Tollgate;
  db: Db;
  clock: ManualClock;
  config: Config;
  /** A fresh project (unique id), optionally with a catalog. */
  project(opts?: { catalog?: CatalogInput; name?: string }): Promise<TestProject>;
  /** Raw request through the app. */
  inject(opts: InjectOptions): Promise<Res>;
  /** Listen on a random port (browser tests); returns the base URL, also set as the public URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

export function testConfig(overrides: Partial<Config> = {}): Config {
  const base = loadConfig({
    TOLLGATE_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
    TOLLGATE_DATA_DIR: '/tmp/tollgate-test-unused',
    TOLLGATE_RUNNER_INTERVAL_MS: '0',
    LOG_LEVEL: 'silent',
  } as NodeJS.ProcessEnv);
  // A provider call made inside a database transaction fails the test that makes it (issue 11 item 8).
  return { ...base, demo: false, publicUrl: 'http://localhost:4242', providerCallInTransaction: 'throw', ...overrides };
}

/**
 * Opens the engine under test: an in-memory PGlite, or with DATABASE_URL a fresh schema of that
 * server, so each test file is as isolated as with PGlite (its background jobs and clock see its
 * own rows only).
 */
export async function openTestDb(): Promise<Db> {
  const url = process.env.DATABASE_URL;
  if (!url) return openDb({ dataDir: 'memory://', poolSize: 8 });
  const schema = `t_${randomToken(12).toLowerCase()}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const scoped = new URL(url);
  scoped.searchParams.set('options', `-c search_path=${schema}`);
  return openDb({ databaseUrl: scoped.toString(), poolSize: 8 });
}

function wrap(r: LightMyRequestResponse): Res {
  let body: unknown = r.body;
  try {
    body = r.body ? JSON.parse(r.body) : undefined;
  } catch {
    /* not JSON: keep the text */
  }
  return { status: r.statusCode, body, headers: r.headers, raw: r.body };
}

export async function createHarness(opts: { clock?: ManualClock; config?: Partial<Config> } = {}): Promise<Harness> {
  const clock = opts.clock ?? new ManualClock('2026-03-01T10:00:00Z');
  const config = testConfig(opts.config);
  const db = await openTestDb();
  const tg = await createTollgate({ config, db, clock, runner: false, logger: process.env.TEST_LOG ? { level: process.env.TEST_LOG } : false });
  // Every reply made through the harness is checked against the served OpenAPI document.
  const checker = new ResponseChecker(tg.app.swagger() as unknown as ConstructorParameters<typeof ResponseChecker>[0]);
  const inject = async (o: InjectOptions) => {
    const res = await tg.app.inject(o);
    checker.check(o, res);
    return wrap(res);
  };
  return {
    tg,
    db,
    clock,
    config,
    inject,
    async project(p = {}) {
      const id = `t-${randomToken(10).toLowerCase()}`;
      const created = await createProject(tg.ctx, { id, name: p.name ?? id });
      if (p.catalog) await pushCatalog(tg.ctx, id, p.catalog, 'test');
      const key = created.secretKey.key;
      return {
        id,
        key,
        publishableKey: created.publishableKey.key,
        call: (method, url, body, headers = {}) =>
          inject({
            method,
            url,
            headers: { authorization: `Bearer ${key}`, ...headers },
            ...(body !== undefined ? { payload: body as InjectOptions['payload'] } : {}),
          }),
      };
    },
    async listen() {
      await tg.app.listen({ port: 0, host: '127.0.0.1' });
      const url = `http://127.0.0.1:${(tg.app.server.address() as AddressInfo).port}`;
      tg.ctx.config.publicUrl = url;
      return url;
    },
    async close() {
      await tg.close();
      await db.close();
    },
  };
}
