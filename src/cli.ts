import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { ConfigError, loadConfig } from './config.ts';
import { AppError } from './domain/errors.ts';
import { acquireLock, assertUnlocked, DataDirLockedError } from './db/data-dir-lock.ts';
import { openDb } from './db/db.ts';
import { migrate } from './db/migrate.ts';
import { seedDemo } from './demo/seed.ts';
import { pushCatalog, validateCatalog } from './modules/catalog/catalog.service.ts';
import { firstRunToken } from './modules/dashboard/operators.service.ts';
import { createKey, createProject, getProject, KEY_SCOPES } from './modules/projects/projects.service.ts';
import { vatReport, vatReportCsv } from './modules/invoices/invoices.service.ts';
import { rotateSecrets } from './modules/vault/vault.service.ts';
import { stripeCommand, syncStripeAfterPush } from './modules/stripe/stripe.cli.ts';
import { createTollgate, loggerOptions } from './server.ts';

const HELP = `tollgate — self-hosted monetization server

Usage:
  tollgate start                          serve the API (same as npm start)
  tollgate migrate                        apply database migrations
  tollgate projects create <name> [--id <slug>]
                                          create a project; prints its keys (shown once)
  tollgate keys create --project <id> [--publishable] [--scopes full,read,secrets:reveal]
  tollgate operators link                 print a one-time link that creates a dashboard operator
  tollgate push <catalog.json> --project <id> [--dry-run]
                                          validate and push a catalog file (and sync it to Stripe
                                          when the project has Stripe; --dry-run shows that plan)
  tollgate import stripe --project <id>   bring a Stripe account's customers, prices and subscriptions in
  tollgate reconcile stripe --project <id>
                                          re-read Stripe for events and sessions webhooks may have missed
  tollgate report vat --project <id> --quarter 2026-Q4 [--csv]
                                          VAT by country and rate for a quarter (invoices minus credit notes)
  tollgate vault rotate [--batch <n>]     re-encrypt every secret under the newest key of
                                          TOLLGATE_ENCRYPTION_KEY (resumable: run it again)

Environment: PORT, DATABASE_URL, TOLLGATE_DATA_DIR, TOLLGATE_DEMO_KEY, TOLLGATE_ENCRYPTION_KEY, ...
`;

/** A mistake in how the command was called (exit code 1). */
export class UsageError extends Error {}
/** Input that names something missing or is invalid: unknown project, bad scope, unreadable catalog (exit code 2). */
export class InputError extends Error {}

type FlagSpec = Record<string, { type: 'string' | 'boolean' }>;

/** Strict flag parsing: an unknown flag or a flag without its value is a usage error, never ignored. */
function parse(args: string[], options: FlagSpec, usage: string): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args, options, strict: true, allowPositionals: true });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (err) {
    // One line: node's reason ("Unknown option '--x'") without its advice, then the usage.
    throw new UsageError(`${(err as Error).message.split('\n')[0]?.split('. ')[0]}; ${usage}`);
  }
}

function parseScopes(value: string | undefined): string[] {
  if (value === undefined) return ['full'];
  const scopes = value.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = scopes.filter((s) => !(KEY_SCOPES as readonly string[]).includes(s));
  if (!scopes.length || unknown.length) {
    throw new InputError(`unknown scope(s) ${unknown.map((s) => `'${s}'`).join(', ') || "''"}; valid scopes: ${KEY_SCOPES.join(', ')}`);
  }
  return [...new Set(scopes)];
}

function readCatalogFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new InputError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

async function requireProject(ctx: Awaited<ReturnType<typeof createTollgate>>['ctx'], id: string): Promise<void> {
  try {
    await getProject(ctx, id);
  } catch {
    throw new InputError(`project '${id}' not found`);
  }
}

/** Config for a one-off command; the embedded database must not be in use by a running server. */
function commandConfig() {
  const config = { ...loadConfig(), runnerIntervalMs: 0 };
  if (!config.databaseUrl) assertUnlocked(config.dataDir);
  return config;
}

async function withCtx<T>(fn: (ctx: Awaited<ReturnType<typeof createTollgate>>['ctx']) => Promise<T>): Promise<T> {
  const config = commandConfig();
  const tg = await createTollgate({ config, runner: false });
  try {
    return await fn(tg.ctx);
  } finally {
    await tg.close();
  }
}

async function start(): Promise<void> {
  const config = loadConfig();
  // The embedded database is this process's while it runs: other commands see the lock and stop.
  const release = config.databaseUrl ? () => {} : acquireLock(config.dataDir, config.port);
  process.on('exit', release);
  // The dashboard's static build (npm start builds it too); without vite installed it stays unbuilt.
  await import('../web/dashboard/build.mjs').then((m) => m.buildDashboard()).catch(() => undefined);
  const started = Date.now();
  const tg = await createTollgate({
    config,
    logger: loggerOptions(config),
  }).catch((err: unknown) => {
    release();
    throw err;
  });
  const demo = config.demo ? await seedDemo(tg.ctx) : [];
  const setup = await firstRunToken(tg.ctx);
  await tg.app.listen({ port: config.port, host: config.host });
  const lines = [
    '',
    `  Tollgate is running on ${config.publicUrl}  (${tg.ctx.db.kind === 'pglite' ? `embedded database in ${config.dataDir}` : 'PostgreSQL'}, ${Date.now() - started} ms)`,
    `  Home: ${config.publicUrl}/   Dashboard: ${config.publicUrl}/dashboard/`,
    `  API reference: ${config.publicUrl}/docs   OpenAPI: ${config.publicUrl}/openapi.json`,
  ];
  if (setup) {
    lines.push(`  First run: create the first operator account with this one-time link (valid 24 h):`, `    ${config.publicUrl}/dashboard/#/setup/${setup}`);
  }
  if (tg.ctx.db.kind === 'pglite') lines.push('  The embedded database is for development: production wants PostgreSQL (DATABASE_URL).');
  if (demo.length) {
    lines.push('', '  Demo projects (sandbox provider):');
    for (const d of demo) {
      lines.push(
        d.secretKey
          ? `    ${d.project.padEnd(12)} secret ${d.secretKey}   publishable ${d.publishableKey}`
          : `    ${d.project.padEnd(12)} keys were shown at the first start (tollgate keys create --project ${d.project})`,
      );
    }
  }
  lines.push('');
  process.stdout.write(`${lines.join('\n')}\n`);
  const shutdown = async () => {
    await tg.close();
    release();
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, sub, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(HELP);
      return 0;
    case 'start':
    case 'dev':
      await start();
      return -1;
    case 'migrate': {
      const usage = 'usage: tollgate migrate';
      if (sub !== undefined || parse(rest, {}, usage).positionals.length) throw new UsageError(sub?.startsWith('-') ? `Unknown option '${sub}'; ${usage}` : usage);
      const config = commandConfig();
      const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: `${config.dataDir}/pgdata` });
      const applied = await migrate(db, (m) => process.stdout.write(`  ${m}\n`));
      process.stdout.write(applied.length ? `Applied ${applied.length} migration(s).\n` : 'Database is up to date.\n');
      await db.close();
      return 0;
    }
    case 'projects': {
      const usage = 'usage: tollgate projects create <name> [--id <slug>]';
      const { values, positionals } = parse(rest, { id: { type: 'string' } }, usage);
      if (sub !== 'create' || positionals.length !== 1) throw new UsageError(usage);
      const name = positionals[0] as string;
      return withCtx(async (ctx) => {
        const id = (values.id as string | undefined) ?? undefined;
        // Checked first: createProject on an existing project would mint a key pair nobody sees.
        const exists = id ? await getProject(ctx, id).then(() => true, () => false) : false;
        if (exists) throw new InputError(`project '${id}' already exists; use "tollgate keys create --project ${id}"`);
        const r = await createProject(ctx, { name, id });
        if (!r.created) throw new InputError(`project '${r.project.id}' already exists; use "tollgate keys create --project ${r.project.id}"`);
        process.stdout.write(
          `Project ${r.project.id} created.\n  secret key:      ${r.secretKey.key}\n  publishable key: ${r.publishableKey.key}\nKeys are stored hashed and shown only once.\n`,
        );
        return 0;
      });
    }
    case 'keys': {
      const usage = 'usage: tollgate keys create --project <id> [--publishable] [--scopes full,read,secrets:reveal]';
      const { values, positionals } = parse(rest, { project: { type: 'string' }, publishable: { type: 'boolean' }, scopes: { type: 'string' } }, usage);
      const project = values.project as string | undefined;
      if (sub !== 'create' || !project || positionals.length) throw new UsageError(usage);
      const scopes = parseScopes(values.scopes as string | undefined);
      return withCtx(async (ctx) => {
        await requireProject(ctx, project);
        const k = await createKey(ctx.db, project, { kind: values.publishable ? 'publishable' : 'secret', scopes, name: 'cli' });
        process.stdout.write(`${k.key}\n`);
        return 0;
      });
    }
    case 'operators': {
      const usage = 'usage: tollgate operators link';
      if (sub !== 'link' || parse(rest, {}, usage).positionals.length) throw new UsageError(usage);
      return withCtx(async (ctx) => {
        const token = await firstRunToken(ctx, { evenWithOperators: true });
        process.stdout.write(`Open this one-time link (valid 24 h) to create an operator:\n  ${ctx.config.publicUrl}/dashboard/#/setup/${token}\n`);
        return 0;
      });
    }
    case 'push': {
      const usage = 'usage: tollgate push <catalog.json> --project <id> [--dry-run]';
      const { values, positionals } = parse(rest, { project: { type: 'string' }, 'dry-run': { type: 'boolean' } }, usage);
      const file = sub;
      const project = values.project as string | undefined;
      if (!file || file.startsWith('--') || !project || positionals.length) throw new UsageError(usage);
      const doc = readCatalogFile(file);
      const catalog = validateCatalog(doc);
      if (values['dry-run']) {
        process.stdout.write(
          `Catalog is valid: ${catalog.features.length} features, ${catalog.plans.length} plans, ${catalog.credit_packs.length} credit packs, ${catalog.products.length} products (dry run, nothing pushed).\n`,
        );
        return withCtx(async (ctx) => {
          await requireProject(ctx, project);
          return syncStripeAfterPush(ctx, project, { dryRun: true, catalog });
        });
      }
      return withCtx(async (ctx) => {
        await requireProject(ctx, project);
        const r = await pushCatalog(ctx, project, doc as never, 'cli');
        process.stdout.write(`Pushed catalog version ${r.version} to ${project}.\n`);
        return syncStripeAfterPush(ctx, project, { dryRun: false });
      });
    }
    case 'import':
    case 'reconcile': {
      const usage = `usage: tollgate ${cmd} stripe --project <id>`;
      const { values } = parse(rest, { project: { type: 'string' } }, usage);
      const project = values.project as string | undefined;
      if (sub !== 'stripe' || !project) throw new UsageError(usage);
      return withCtx((ctx) => stripeCommand(ctx, cmd, project));
    }
    case 'report': {
      const usage = 'usage: tollgate report vat --project <id> --quarter 2026-Q4 [--csv]';
      const { values, positionals } = parse(rest, { project: { type: 'string' }, quarter: { type: 'string' }, csv: { type: 'boolean' } }, usage);
      const project = values.project as string | undefined;
      const quarter = values.quarter as string | undefined;
      if (sub !== 'vat' || !project || !quarter || positionals.length) throw new UsageError(usage);
      if (!/^\d{4}-Q[1-4]$/.test(quarter)) throw new InputError(`--quarter must look like 2026-Q4 (got '${quarter}')`);
      return withCtx(async (ctx) => {
        await requireProject(ctx, project);
        const report = await vatReport(ctx.db, project, quarter);
        if (values.csv) {
          process.stdout.write(vatReportCsv(report));
          return 0;
        }
        process.stdout.write(`VAT ${quarter} for ${project}\n`);
        if (!report.rows.length) process.stdout.write('  no invoices in this quarter\n');
        for (const r of report.rows) {
          process.stdout.write(
            `  ${(r.country ?? '--').padEnd(3)} ${r.treatment.padEnd(15)} ${String(r.rate).padStart(5)}%  ${r.currency}  net ${r.net}  VAT ${r.tax}  gross ${r.gross}  (${r.invoices} invoice(s), ${r.credit_notes} credit note(s))\n`,
          );
        }
        for (const [cur, t] of Object.entries(report.totals)) process.stdout.write(`  total ${cur}: net ${t.net}  VAT ${t.tax}  gross ${t.gross}\n`);
        return 0;
      });
    }
    case 'vault': {
      const usage = 'usage: tollgate vault rotate [--batch <n>]';
      const { values } = parse(rest, { batch: { type: 'string' } }, usage);
      if (sub !== 'rotate') throw new UsageError(usage);
      const batchSize = Number(values.batch ?? 500);
      if (!Number.isInteger(batchSize) || batchSize < 1) throw new ConfigError('--batch must be a positive integer');
      return withCtx(async (ctx) => {
        const newest = ctx.config.encryptionKeys[0]?.id;
        const bar = new cliProgress.SingleBar(
          { format: `  re-encrypting under '${newest}' [{bar}] {value}/{total}`, hideCursor: true },
          cliProgress.Presets.shades_classic,
        );
        const r = await rotateSecrets(ctx, {
          batchSize,
          onStart: (total) => bar.start(total, 0),
          onProgress: (done) => bar.update(done),
        });
        bar.stop();
        process.stdout.write(`Re-encrypted ${r.rotated} of ${r.total} secret(s) under key '${newest}'.\n`);
        for (const f of r.failed) process.stderr.write(`  could not re-encrypt ${f.id}: ${f.error}\n`);
        return r.failed.length ? 1 : 0;
      });
    }
    default:
      process.stderr.write(`Unknown command '${cmd}'.\n\n${HELP}`);
      return 1;
  }
}

/** The message a user sees for an error: never a stack trace for a mistake of theirs. */
export function errorMessage(err: unknown): string {
  if (err instanceof UsageError || err instanceof InputError || err instanceof ConfigError || err instanceof AppError || err instanceof DataDirLockedError)
    return err.message;
  return (err as Error).stack ?? String(err);
}

/** Exit codes: 0 ok, 1 usage error, 2 not found / validation, 3 unexpected failure, 4 embedded database in use. */
export function exitCode(err: unknown): number {
  if (err instanceof DataDirLockedError) return 4;
  if (err instanceof UsageError || err instanceof ConfigError) return 1;
  if (err instanceof InputError || err instanceof AppError) return 2;
  return 3;
}

const isEntry = process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/').split('/').pop() ?? '');
if (isEntry) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code >= 0) process.exit(code);
    },
    (err) => {
      process.stderr.write(`${errorMessage(err)}\n`);
      process.exit(exitCode(err));
    },
  );
}
