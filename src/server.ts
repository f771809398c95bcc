import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { type Clock, systemClock } from './clock.ts';
import type { Config } from './config.ts';
import { type Db, openDb } from './db/db.ts';
import { listenForInvalidations } from './db/invalidation.ts';
import { migrate } from './db/migrate.ts';
import { buildApp } from './http/app.ts';
import { defaultRegistry } from './app/capabilities.ts';
import type { AppContext } from './app/context.ts';
import type { Registry } from './app/registry.ts';
import { checkEncryptionKeys } from './modules/vault/vault.service.ts';
import { type Runner, startRunner } from './jobs/runner.ts';

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
  /** The capabilities to run (default: all of them, from `app/capabilities.ts`). */
  registry?: Registry;
  /** Start the background runner (default: yes when config.runnerIntervalMs > 0). */
  runner?: boolean;
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
  const ctx: AppContext = {
    db,
    config: opts.config,
    clock: opts.clock ?? systemClock,
    log: pino({ level: 'silent' }),
    registry: opts.registry ?? defaultRegistry(),
  };
  try {
    await checkEncryptionKeys(ctx);
  } catch (err) {
    if (!opts.db) await db.close();
    throw err;
  }
  const stopListening = await listenForInvalidations(db);
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
      await stopListening();
      if (!opts.db) await db.close();
    },
  };
}

/** The server's log: one concise line per request, pretty in a terminal and JSON lines otherwise. */
export function loggerOptions(config: Pick<Config, 'logLevel' | 'logFormat'>): object {
  const pretty = config.logFormat === 'pretty' || (config.logFormat === 'auto' && process.stdout.isTTY === true);
  if (!pretty) return { level: config.logLevel };
  return {
    level: config.logLevel,
    transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss', ignore: 'pid,hostname,reqId,method,url,status,ms', singleLine: true } },
  };
}
