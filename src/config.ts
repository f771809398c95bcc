import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';

const bool = z
  .string()
  .optional()
  .transform((v) => (v === undefined ? undefined : ['1', 'true', 'yes', 'on'].includes(v.toLowerCase())));

const EnvSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(4242),
  HOST: z.string().default('0.0.0.0'),
  PUBLIC_URL: z.string().url().optional(),
  DATABASE_URL: z.string().optional(),
  TOLLGATE_DATA_DIR: z.string().default('./.tollgate'),
  TOLLGATE_DEMO_KEY: z
    .string()
    .regex(/^sk_(test|live)_[A-Za-z0-9_]+$/, 'must look like sk_test_<letters, digits, _>')
    .optional(),
  TOLLGATE_DEMO: bool,
  TOLLGATE_ENCRYPTION_KEY: z.string().optional(),
  TOLLGATE_WEBHOOK_ALLOW_PRIVATE: bool,
  TOLLGATE_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(15_000),
  TOLLGATE_PROVIDER_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  TOLLGATE_STRIPE_API_BASE: z.string().url().optional(),
  TOLLGATE_PAYPAL_API_BASE: z.string().url().optional(),
  TOLLGATE_SMTP_URL: z.string().regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL').optional(),
  SMTP_URL: z.string().regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL').optional(),
  TOLLGATE_RUNNER_INTERVAL_MS: z.coerce.number().int().min(0).default(2000),
  TOLLGATE_DB_POOL: z.coerce.number().int().min(1).max(200).default(8),
  TOLLGATE_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  TOLLGATE_MAX_CONNECTIONS: z.coerce.number().int().min(0).default(4096),
  /** A known bug switched on, to prove `npm run chaos` catches it (docs/reliability.md). Never in production. */
  TOLLGATE_GROUP_COMMIT: z.enum(['0', '1']).default('1'),
  TOLLGATE_GROUP_COMMIT_MAX: z.coerce.number().int().min(1).max(10_000).default(256),
  TOLLGATE_PLANTED_BUG: z.enum(['reply-after-commit']).optional(),
  REDIS_URL: z.string().optional(),
  TOLLGATE_RATE_LIMIT_PER_KEY: z.coerce.number().int().min(0).default(0),
  TOLLGATE_RATE_LIMIT_PER_CUSTOMER: z.coerce.number().int().min(0).default(0),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: z.enum(['auto', 'pretty', 'json']).default('auto'),
});

export interface Config {
  port: number;
  host: string;
  publicUrl: string;
  databaseUrl: string | undefined;
  dataDir: string;
  demoKey: string | undefined;
  demo: boolean;
  encryptionKeys: EncryptionKey[];
  webhookAllowPrivate: boolean;
  /** How long one outgoing webhook attempt may take (connect, headers and body). */
  webhookTimeoutMs: number;
  /** Timeout of each HTTP call to a payment provider (Stripe, PayPal). */
  providerTimeoutMs: number;
  /**
   * What a provider call made inside a database transaction does: `log` a warning (default) or
   * `throw` (the test suite), so a call that would hold a connection across the network is caught.
   */
  providerCallInTransaction: 'log' | 'throw';
  stripeApiBase: string | undefined;
  paypalApiBase: string | undefined;
  /**
   * Where e-mails to customers go (`TOLLGATE_SMTP_URL`, else `SMTP_URL`, e.g. smtp://user:pass@host:587);
   * unset, they are kept in the dev mailbox (status `captured`) and shown in the dashboard.
   */
  smtpUrl: string | undefined;
  runnerIntervalMs: number;
  dbPool: number;
  /** Longest a client may take to send one whole request (headers and body); slower uploads are cut. */
  requestTimeoutMs: number;
  /** Open connections one instance accepts at once (0 = no cap); more are closed on arrival. */
  maxConnections: number;
  /**
   * Group commit of deducts (`TOLLGATE_GROUP_COMMIT`, on by default; `0` = one transaction per
   * request): concurrent deducts on one instance share one statement and one commit, at most `maxBatch`.
   */
  groupCommit: { enabled: boolean; maxBatch: number };
  /** `reply-after-commit`: an Idempotency-Key's reply is stored after the effect commits, not with it. */
  plantedBug?: 'reply-after-commit';
  redisUrl: string | undefined;
  /** Default requests per second per API key / per customer (0 = unlimited); projects may override. */
  rateLimit: { perKeyPerSecond: number; perCustomerPerSecond: number };
  logLevel: string;
  /** `auto`: pretty in a terminal, JSON lines otherwise. */
  logFormat: 'auto' | 'pretty' | 'json';
}

export interface EncryptionKey {
  id: string;
  key: Buffer;
}

export class ConfigError extends Error {}

/** Parses `id:base64key[,id:base64key...]`; every key must decode to 32 bytes. */
export function parseEncryptionKeys(value: string): EncryptionKey[] {
  const keys = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((part) => {
      const i = part.indexOf(':');
      if (i <= 0) throw new ConfigError(`TOLLGATE_ENCRYPTION_KEY: "${part.slice(0, 8)}…" must be id:base64key`);
      const id = part.slice(0, i);
      const key = Buffer.from(part.slice(i + 1), 'base64');
      if (key.length !== 32) throw new ConfigError(`TOLLGATE_ENCRYPTION_KEY: key "${id}" must decode to 32 bytes`);
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) throw new ConfigError(`TOLLGATE_ENCRYPTION_KEY: key id "${id}" is invalid`);
      return { id, key };
    });
  if (keys.length === 0) throw new ConfigError('TOLLGATE_ENCRYPTION_KEY is empty');
  return keys;
}

/** Reads the environment once at boot. Nothing else reads process.env. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`Invalid configuration: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  const e = parsed.data;
  const embedded = !e.DATABASE_URL;
  const dataDir = resolve(e.TOLLGATE_DATA_DIR);
  let encryptionKeys: EncryptionKey[];
  if (e.TOLLGATE_ENCRYPTION_KEY) {
    encryptionKeys = parseEncryptionKeys(e.TOLLGATE_ENCRYPTION_KEY);
  } else if (embedded) {
    encryptionKeys = parseEncryptionKeys(embeddedKeyFile(dataDir));
  } else {
    throw new ConfigError(
      'TOLLGATE_ENCRYPTION_KEY is required with DATABASE_URL (id:base64 of 32 random bytes, e.g. k1:$(openssl rand -base64 32))',
    );
  }
  return {
    port: e.PORT,
    host: e.HOST,
    publicUrl: (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/$/, ''),
    databaseUrl: e.DATABASE_URL,
    dataDir,
    demoKey: e.TOLLGATE_DEMO_KEY,
    demo: e.TOLLGATE_DEMO ?? embedded,
    encryptionKeys,
    webhookAllowPrivate: e.TOLLGATE_WEBHOOK_ALLOW_PRIVATE ?? embedded,
    webhookTimeoutMs: e.TOLLGATE_WEBHOOK_TIMEOUT_MS,
    providerTimeoutMs: e.TOLLGATE_PROVIDER_TIMEOUT_MS,
    providerCallInTransaction: 'log',
    stripeApiBase: e.TOLLGATE_STRIPE_API_BASE,
    paypalApiBase: e.TOLLGATE_PAYPAL_API_BASE,
    smtpUrl: e.TOLLGATE_SMTP_URL ?? e.SMTP_URL,
    runnerIntervalMs: e.TOLLGATE_RUNNER_INTERVAL_MS,
    dbPool: e.TOLLGATE_DB_POOL,
    requestTimeoutMs: e.TOLLGATE_REQUEST_TIMEOUT_MS,
    maxConnections: e.TOLLGATE_MAX_CONNECTIONS,
    groupCommit: { enabled: e.TOLLGATE_GROUP_COMMIT === '1', maxBatch: e.TOLLGATE_GROUP_COMMIT_MAX },
    plantedBug: e.TOLLGATE_PLANTED_BUG,
    redisUrl: e.REDIS_URL,
    rateLimit: { perKeyPerSecond: e.TOLLGATE_RATE_LIMIT_PER_KEY, perCustomerPerSecond: e.TOLLGATE_RATE_LIMIT_PER_CUSTOMER },
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
  };
}

/** With the embedded database, a key is generated once into the data dir (development only). */
function embeddedKeyFile(dataDir: string): string {
  const file = join(dataDir, 'encryption.key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const value = `k1:${randomBytes(32).toString('base64')}`;
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  return value;
}
