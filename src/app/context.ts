import type { FastifyBaseLogger } from 'fastify';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import type { Db } from '../db/db.ts';
import type { Registry } from './registry.ts';

/** What every service needs: the database, configuration, time and a logger. No request state. */
export interface AppContext {
  db: Db;
  config: Config;
  clock: Clock;
  log: FastifyBaseLogger;
  /** What the capabilities plug in: providers, event handlers, jobs (see `capabilities.ts`). */
  registry: Registry;
  /**
   * Delivers a provider webhook through the same HTTP route a provider would call
   * (the sandbox uses it so its events take production's path). Set by the HTTP app.
   */
  deliverWebhook?: (req: { provider: string; projectId: string; headers: Record<string, string>; body: string }) => Promise<{
    status: number;
    body: string;
  }>;
}

/** Who is calling: resolved from the API key or customer session. */
export interface Caller {
  projectId: string;
  keyId: string;
  kind: 'secret' | 'publishable' | 'customer_session' | 'operator';
  scopes: string[];
  /** A customer session acts for one customer only. */
  customerId?: string;
  /** "key:<id>", "dashboard:<user>", "customer:<id>" — recorded in the audit log. */
  actor: string;
  ip?: string;
  /** The mode of the caller's project (docs/modes.md): set by the auth hook on every authenticated request. */
  mode?: 'test' | 'live';
}
