import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { type Clock, systemClock } from './clock.ts';
import type { Config } from './config.ts';
import { type Db, openDb } from './db/db.ts';
import { migrate } from './db/migrate.ts';
import { buildApp } from './http/app.ts';
import type { AppContext } from './http/context.ts';
import { registerJobs } from './jobs/jobs.ts';
import { checkEncryptionKeys } from './modules/vault/vault.service.ts';
import { type Runner, startRunner } from './jobs/runner.ts';
import { paypalProvider } from './providers/paypal/paypal.provider.ts';
import { registerProvider } from './providers/provider.ts';
import { sandboxProvider } from './providers/sandbox/sandbox.provider.ts';

export interface Tollgate {
  app: FastifyInstance;
  ctx: AppContext;
  close(): Promise<void>;
}

export interface CreateOptions {
  config: Config;
  db?: Db;
  clock?: Clock;
  logger?: boolean | object;
  /** Start the background runner (default: yes when config.runnerIntervalMs > 0). */
  runner?: boolean;
}

export function registerProviders(): void {
  registerProvider(sandboxProvider);
  registerProvider(paypalProvider);
}

/** Opens the database, migrates, assembles the app; the caller listens or injects. */
export async function createTollgate(opts: CreateOptions): Promise<Tollgate> {
  const db =
    opts.db ??
    (await openDb({
      databaseUrl: opts.config.databaseUrl,
      dataDir: `${opts.config.dataDir}/pgdata`,
      poolSize: opts.config.dbPool,
    }));
  await migrate(db);
  registerProviders();
  registerJobs();
  const ctx: AppContext = {
    db,
    config: opts.config,
    clock: opts.clock ?? systemClock,
    log: pino({ level: 'silent' }),
  };
  try {
    await checkEncryptionKeys(ctx);
  } catch (err) {
    if (!opts.db) await db.close();
    throw err;
  }
  const app = await buildApp(ctx, { logger: opts.logger });
  await app.ready();
  const runOn = opts.runner ?? opts.config.runnerIntervalMs > 0;
  const runner: Runner | null = runOn ? startRunner(ctx, opts.config.runnerIntervalMs) : null;
  return {
    app,
    ctx,
    async close() {
      await runner?.stop();
      await app.close();
      if (!opts.db) await db.close();
    },
  };
}
