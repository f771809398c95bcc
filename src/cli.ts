import { existsSync, readFileSync, writeFileSync } from 'node:fs';
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
import { createModeKey, createProject, getProject, getProjectView, KEY_SCOPES, listKeys, type Mode, ProjectPatchBody, projectIdOfMode, projectsRepository, revokeKey, updateProject } from './modules/projects/projects.service.ts';
import { invalidate } from './db/invalidation.ts';
import { getCatalog } from './modules/catalog/catalog.service.ts';
import { audit } from './modules/audit/audit.service.ts';
import { describeDiff, diffCatalogs } from './domain/catalog-diff.ts';
import { CATALOG_TEMPLATE_DOCUMENTS, CATALOG_TEMPLATES, type CatalogTemplate, stripCatalogComments } from './domain/catalog-templates.ts';
import { vatReport, vatReportCsv } from './modules/invoices/invoices.service.ts';
import { rotateSecrets } from './modules/vault/vault.service.ts';
import { stripeCommand, syncStripeAfterPush } from './modules/stripe/stripe.cli.ts';
import { httpApply, importFile } from './modules/imports/imports.cli.ts';
import { FILE_SHAPES, FileError, type FileShape } from './modules/imports/imports.parse.ts';
import { runImport } from './modules/imports/imports.service.ts';
import { bindPrices, bindingsFromEnv, PriceBindingsBody } from './modules/imports/price-bindings.service.ts';
import { createTollgate, loggerOptions } from './server.ts';

const HELP = `tollgate — self-hosted monetization server

Usage:
  tollgate start                          serve the API (same as npm start)
  tollgate migrate                        apply database migrations
  tollgate init [--template credits|tiers|shop] [--out tollgate.catalog.json] [--force]
                                          write a commented starter catalog file
  tollgate projects create <name> [--id <slug>]
                                          create a project; prints its keys (shown once)
  tollgate projects list                  every project with its catalog version
  tollgate keys create --project <id> [--mode test|live] [--publishable] [--scopes full,read,secrets:reveal]
                                          a key of the project's test (sk_test_) or live (sk_live_) mode
  tollgate keys list --project <id> [--mode test|live]
                                          the mode's keys (id, kind, scopes, created, revoked, last used)
  tollgate keys revoke <key-id> --project <id> [--mode test|live]
  tollgate settings show --project <id>   the project's rate limits, branding, locale and CORS origins
  tollgate settings set --project <id> [--rate-limit-per-key <n|default>] [--rate-limit-per-customer <n|default>]
                        [--brand-name <s|default>] [--brand-color <#rrggbb|default>] [--logo-url <url|default>]
                        [--locale <bcp47|default>] [--cors-origins <origin,origin|none>]
  tollgate operators link                 print a one-time link that creates a dashboard operator
  tollgate push <catalog.json> --project <id> [--mode test|live] [--dry-run] [--expect-version <n>]
                                          validate and push a catalog file (and sync it to Stripe
                                          when the project has Stripe; --dry-run shows the diff
                                          against the current catalog and changes nothing);
                                          live mode sells the test catalog until --mode live
                                          pushes a live catalog of its own
  tollgate import stripe --project <id> [--bind-prices <plan>=price_...,...]
                                          bring a Stripe account's customers, prices and subscriptions in
                                          (existing prices bound to plans, also from STRIPE_PRICE_<PLAN>)
  tollgate import credits-json|payments|sqlite|customers-csv <file> --project <id> [--dry-run] [--map f=Col,...]
                                          move in a product's balances, past payments, users table or
                                          customers (docs/import.md); through a running server with --url/--key
  tollgate reconcile stripe --project <id>
                                          re-read Stripe for events and sessions webhooks may have missed
  tollgate report vat --project <id> --quarter 2026-Q4 [--csv]
                                          VAT by country and rate for a quarter (invoices minus credit notes)
  tollgate vault rotate [--batch <n>]     re-encrypt every secret under the newest key of
                                          TOLLGATE_ENCRYPTION_KEY (resumable: run it again)

Every command takes --json (machine-readable output on stdout; errors as {"error":{"code","message"}}
on stderr) and --help. tollgate --version prints the version.

Environment: PORT, DATABASE_URL, TOLLGATE_DATA_DIR, TOLLGATE_DEMO_KEY, TOLLGATE_ENCRYPTION_KEY, ...
`;

/** `tollgate <command> --help`: the command's forms and flags. */
const COMMAND_HELP: Record<string, string> = {
  start: 'usage: tollgate start\n  Serves the API, the dashboard and the pages (PORT, HOST, DATABASE_URL, TOLLGATE_DATA_DIR ...).\n',
  migrate: 'usage: tollgate migrate\n  Applies pending database migrations.\n',
  init: `usage: tollgate init [--template credits|tiers|shop] [--out <file>] [--force]
  --template <name>   credits (credit packs), tiers (plans with a trial) or shop (products); default credits
  --out <file>        where to write; default tollgate.catalog.json
  --force             overwrite an existing file
  Keys named "//" in the file are comments; tollgate push ignores them.
`,
  projects: `usage: tollgate projects create <name> [--id <slug>]
       tollgate projects list
  --id <slug>         the project id (default: from the name)
`,
  keys: `usage: tollgate keys create --project <id> [--mode test|live] [--publishable] [--scopes full,read,secrets:reveal]
       tollgate keys list --project <id> [--mode test|live]
       tollgate keys revoke <key-id> --project <id> [--mode test|live]
  --project <id>      the project (required)
  --mode <mode>       test (sk_test_/pk_test_ keys, the default) or live (sk_live_/pk_live_ keys)
  --publishable       a publishable key instead of a secret key (create)
  --scopes <list>     comma-separated: ${KEY_SCOPES.join(', ')}; default full (create)
`,
  settings: `usage: tollgate settings show --project <id>
       tollgate settings set --project <id> [flags]
  --project <id>                  the project (required)
  --rate-limit-per-key <n>        requests per second per API key; 0 = unlimited; default = the server's
  --rate-limit-per-customer <n>   requests per second per customer; 0 = unlimited; default = the server's
  --brand-name <name>             the name hosted pages and e-mails show (default: the catalog theme's)
  --brand-color <#rrggbb>         their primary color
  --logo-url <url>                their logo
  --locale <bcp47>                their language, e.g. fr-FR (default: the catalog's)
  --cors-origins <list>           comma-separated browser origins allowed to call the API; none = no origin
`,
  operators: 'usage: tollgate operators link\n  Prints a one-time link (valid 24 h) that creates a dashboard operator.\n',
  push: `usage: tollgate push <catalog.json> --project <id> [--mode test|live] [--dry-run] [--expect-version <n>]
  --project <id>      the project (required)
  --mode <mode>       test (default; live mode shares it until it has its own) or live (gives live
                      mode its own catalog from then on; docs/modes.md)
  --dry-run           validate, show the diff against the current catalog (and the Stripe plan); change nothing
  --expect-version <n>  push only if the catalog is still version n (the one --dry-run diffed against);
                      if someone pushed since, nothing changes and the command fails (exit 2)
  Keys starting with "//" are comments and are dropped before validation.
`,
  import: `usage: tollgate import stripe --project <id> [--bind-prices <plan>=price_...,...]
       tollgate import credits-json <credits.json> --project <id> [--customer <id>] [--dry-run] [--map ...]
       tollgate import payments <payments.json|.csv> --project <id> [--dry-run] [--map ...]
       tollgate import sqlite <app.db> --project <id> [--table users] [--dry-run] [--map ...]
       tollgate import customers-csv <customers.csv> --project <id> [--dry-run] [--map ...]
  --project <id>      the project (required in this process; through a server the key's project)
  --dry-run           report what would change; write nothing
  --map f=Col,...     read field f from column Col (e.g. email=Email,name=Full Name,external_id=user_id,metadata.plan=Tier)
  --customer <id>     whose a global credits.json balance is (AurisVoice's one-balance form)
  --table <name>      the SQLite table of users (default users)
  --url, --key        go through a running server's API (default TOLLGATE_URL, TOLLGATE_API_KEY); without them
                      the import runs in this process, and refuses (exit 4) if a server holds the embedded database
  --bind-prices       bind existing Stripe prices to catalog plans or packs (also STRIPE_PRICE_<PLAN>=price_...)
  Safe to run twice: every record is keyed by its source id. Exit 2 when some rows were invalid (the rest is imported).
`,
  reconcile: 'usage: tollgate reconcile stripe --project <id>\n  --project <id>      the project (required)\n',
  report: `usage: tollgate report vat --project <id> --quarter 2026-Q4 [--csv]
  --project <id>      the project (required)
  --quarter <YYYY-Qn> the quarter (required)
  --csv               CSV instead of text
`,
  vault: 'usage: tollgate vault rotate [--batch <n>]\n  --batch <n>         secrets per transaction; default 500\n',
};

/** `tollgate settings set` flags as a PATCH /v1/project body, checked by the API's own schema (one line per mistake). */
function settingsPatch(v: Record<string, string | boolean | undefined>) {
  const text = (k: string) => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
  const reset = (s: string) => s === 'default' || s === 'none';
  const perSecond = (k: string) => {
    const s = text(k);
    if (s === undefined) return undefined;
    if (reset(s)) return null;
    if (!/^\d+$/.test(s)) throw new InputError(`--${k} must be a whole number of requests per second (0 = unlimited) or "default" (got '${s}')`, 'invalid_input');
    return Number(s);
  };
  const orNull = (k: string) => {
    const s = text(k);
    return s === undefined ? undefined : reset(s) ? null : s;
  };
  const body: Record<string, unknown> = {};
  const rate = { per_key_per_second: perSecond('rate-limit-per-key'), per_customer_per_second: perSecond('rate-limit-per-customer') };
  if (rate.per_key_per_second !== undefined || rate.per_customer_per_second !== undefined) body.rate_limit = rate;
  const branding = { name: orNull('brand-name'), primary_color: orNull('brand-color'), logo_url: orNull('logo-url') };
  if (Object.values(branding).some((x) => x !== undefined)) body.branding = branding;
  if (text('locale') !== undefined) body.locale = orNull('locale');
  const origins = text('cors-origins');
  if (origins !== undefined) body.cors_origins = reset(origins) ? [] : origins.split(',').map((o) => o.trim()).filter(Boolean);
  const parsed = ProjectPatchBody.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const flag: Record<string, string> = {
      'rate_limit.per_key_per_second': '--rate-limit-per-key',
      'rate_limit.per_customer_per_second': '--rate-limit-per-customer',
      'branding.name': '--brand-name',
      'branding.primary_color': '--brand-color',
      'branding.logo_url': '--logo-url',
      locale: '--locale',
    };
    const path = (issue?.path ?? []).join('.');
    const name = flag[path] ?? (path.startsWith('cors_origins') ? '--cors-origins' : path);
    throw new InputError(`${name} ${issue?.message ?? 'is invalid'}`, 'invalid_input');
  }
  return parsed.data;
}

/** A mistake in how the command was called (exit code 1). */
export class UsageError extends Error {}

/** A push over a catalog that changed since it was diffed: one line, exit 2. */
function staleCatalog(project: string, current: number, expected: number): AppError {
  return new AppError(
    'conflict',
    `${project}'s catalog is at version ${current}, not ${expected}: someone pushed since; nothing was pushed (run --dry-run again to see the changes)`,
    { current_version: current, expected_version: expected },
  );
}
/** Input that names something missing or is invalid: unknown project, bad scope, unreadable catalog (exit code 2). */
export class InputError extends Error {
  constructor(
    message: string,
    readonly code = 'invalid_input',
  ) {
    super(message);
  }
}

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
    return stripCatalogComments(JSON.parse(text));
  } catch (err) {
    throw new InputError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

/** `--mode test|live` (default test): which mode of the project a command acts on (docs/modes.md). */
function parseMode(v: unknown, usage: string): Mode {
  if (v === undefined || v === 'test') return 'test';
  if (v === 'live') return 'live';
  throw new UsageError(`--mode must be test or live (got '${String(v)}')\n${usage}`);
}

/** The project id of the given mode (`<id>_live` for live), after checking the project exists. */
async function projectOfMode(ctx: Awaited<ReturnType<typeof createTollgate>>['ctx'], id: string, mode: Mode): Promise<string> {
  await requireProject(ctx, id);
  return projectIdOfMode(await getProject(ctx, id), mode);
}

async function requireProject(ctx: Awaited<ReturnType<typeof createTollgate>>['ctx'], id: string): Promise<void> {
  try {
    await getProject(ctx, id);
  } catch {
    throw new InputError(`project '${id}' not found`, 'project_not_found');
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

/** `--bind-prices pro=price_...,starter=price_...` and the environment's STRIPE_PRICE_<ITEM> ids, bound to catalog plans or packs. */
async function bindStripePrices(ctx: Awaited<ReturnType<typeof createTollgate>>['ctx'], project: string, spec: string | undefined) {
  const { catalog } = await getCatalog(ctx, project);
  const wanted = bindingsFromEnv(process.env, catalog);
  for (const part of (spec ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
    const [item, price] = part.split('=').map((x) => x.trim());
    if (!item || !price) throw new UsageError(`--bind-prices: '${part}' is not <plan or pack>=price_... (e.g. --bind-prices pro=price_1Pro)`);
    if (catalog.plans.some((p) => p.id === item)) wanted.push({ price, plan: item });
    else if (catalog.credit_packs.some((p) => p.id === item)) wanted.push({ price, pack: item });
    else throw new InputError(`--bind-prices: no plan or pack '${item}' in ${project}'s catalog`, 'not_found');
  }
  if (!wanted.length) return [];
  const parsed = PriceBindingsBody.safeParse({ bindings: wanted });
  if (!parsed.success) throw new InputError(`--bind-prices: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  await ctx.db.tx((q) => bindPrices(ctx, q, project, parsed.data));
  return parsed.data.bindings.map((b) => ({ item_id: (b.plan ?? b.pack) as string, price: b.price }));
}

/** The data directory is held by a running server: the import goes through its API instead. */
class ImportThroughServer extends DataDirLockedError {
  constructor(err: DataDirLockedError) {
    super(err.dir, err.holder);
    this.message = `the embedded database in ${err.dir} is in use by a running Tollgate (pid ${err.holder.pid}); import through it: --url ${err.holder.port ? `http://127.0.0.1:${err.holder.port}` : '<its url>'} --key <secret key> (or TOLLGATE_URL and TOLLGATE_API_KEY)`;
  }
}

/** `tollgate import credits-json|payments|sqlite|customers-csv <file>`: through a running server with --url/--key, else in this process. */
async function importFileCommand(shape: FileShape, args: string[], json: boolean): Promise<number> {
  const usage = `usage: tollgate import ${shape} <file> --project <id> [--dry-run] [--map field=Column,...]${shape === 'credits-json' ? ' [--customer <id>]' : ''}${shape === 'sqlite' ? ' [--table users]' : ''} [--url <server> --key <secret key>] [--json]`;
  const { values, positionals } = parse(
    args,
    {
      project: { type: 'string' },
      'dry-run': { type: 'boolean' },
      map: { type: 'string' },
      customer: { type: 'string' },
      table: { type: 'string' },
      url: { type: 'string' },
      key: { type: 'string' },
    },
    usage,
  );
  const file = positionals[0];
  if (!file || positionals.length !== 1) throw new UsageError(usage);
  if (values.customer !== undefined && shape !== 'credits-json') throw new UsageError(`--customer is for credits-json only; ${usage}`);
  if (values.table !== undefined && shape !== 'sqlite') throw new UsageError(`--table is for sqlite only; ${usage}`);
  const url = (values.url as string | undefined) ?? process.env.TOLLGATE_URL;
  const key = (values.key as string | undefined) ?? process.env.TOLLGATE_API_KEY;
  if (values.url !== undefined && !key) throw new UsageError(`--url needs --key (a secret key of the project); ${usage}`);
  const project = values.project as string | undefined;
  const opts = { shape, file, dryRun: values['dry-run'] === true, map: values.map as string | undefined, customer: values.customer as string | undefined, table: values.table as string | undefined, json };
  const finish = (r: { code: number; text: string; data: unknown }) => {
    emit(json, r.text, r.data);
    return r.code;
  };
  if (url && key) return finish(await importFile({ ...opts, project: project ?? '(the key\'s project)', via: `through the server at ${url}` }, httpApply(url, key)));
  if (!project) throw new UsageError(usage);
  let config: ReturnType<typeof commandConfig>;
  try {
    config = commandConfig();
  } catch (err) {
    throw err instanceof DataDirLockedError ? new ImportThroughServer(err) : err;
  }
  const tg = await createTollgate({ config, runner: false });
  try {
    await requireProject(tg.ctx, project);
    const via = `in this process (${tg.ctx.db.kind === 'pglite' ? `embedded database in ${config.dataDir}` : 'PostgreSQL'}; no server running)`;
    return finish(await importFile({ ...opts, project, via }, (s, body) => runImport(tg.ctx, tg.ctx.db, project, s, body)));
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

/** Whether the arguments ask for machine-readable output (`--json` anywhere). */
export function wantsJson(argv: string[]): boolean {
  return argv.includes('--json');
}

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Text for people, or one JSON document for scripts. */
function emit(json: boolean, text: string, data: unknown): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : text);
}

/** Runs fn with stdout captured line by line (helpers that print progress text), for --json output. */
async function captured<T>(json: boolean, fn: () => Promise<T>): Promise<{ result: T; lines: string[] }> {
  if (!json) return { result: await fn(), lines: [] };
  const lines: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  }) as typeof process.stdout.write;
  try {
    return { result: await fn(), lines };
  } finally {
    process.stdout.write = write;
  }
}

const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : null);

export async function main(argvIn: string[]): Promise<number> {
  const json = wantsJson(argvIn);
  const argv = argvIn.filter((a) => a !== '--json');
  const [cmd, sub, ...rest] = argv;
  if (cmd === '--version' || cmd === '-v' || cmd === 'version') {
    if (argv.length > 1) throw new UsageError('usage: tollgate --version');
    emit(json, `tollgate ${VERSION}\n`, { version: VERSION });
    return 0;
  }
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    const topic = cmd === 'help' ? sub : undefined;
    if (topic !== undefined && !COMMAND_HELP[topic]) throw new UsageError(`unknown command '${topic}'; run "tollgate --help"`);
    const text = topic ? (COMMAND_HELP[topic] as string) : HELP;
    emit(json, text, { usage: text });
    return 0;
  }
  if (cmd === 'dev' ? false : !COMMAND_HELP[cmd]) {
    throw new UsageError(cmd.startsWith('-') ? `Unknown option '${cmd}'; run "tollgate --help"` : `unknown command '${cmd}'; run "tollgate --help"`);
  }
  if (argv.includes('--help') || argv.includes('-h')) {
    const text = COMMAND_HELP[cmd === 'dev' ? 'start' : cmd] as string;
    emit(json, text, { usage: text });
    return 0;
  }
  switch (cmd) {
    case 'start':
    case 'dev': {
      if (argv.length > 1) throw new UsageError(argv[1]?.startsWith('-') ? `Unknown option '${argv[1]}'; usage: tollgate start` : 'usage: tollgate start');
      await start();
      return -1;
    }
    case 'migrate': {
      const usage = 'usage: tollgate migrate';
      if (sub !== undefined || parse(rest, {}, usage).positionals.length) throw new UsageError(sub?.startsWith('-') ? `Unknown option '${sub}'; ${usage}` : usage);
      const config = commandConfig();
      const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: `${config.dataDir}/pgdata` });
      try {
        const applied = await migrate(db, (m) => {
          if (!json) process.stdout.write(`  ${m}\n`);
        });
        emit(json, applied.length ? `Applied ${applied.length} migration(s).\n` : 'Database is up to date.\n', { applied });
      } finally {
        await db.close();
      }
      return 0;
    }
    case 'init': {
      const usage = 'usage: tollgate init [--template credits|tiers|shop] [--out <file>] [--force]';
      const { values, positionals } = parse(argv.slice(1), { template: { type: 'string' }, out: { type: 'string' }, force: { type: 'boolean' } }, usage);
      if (positionals.length) throw new UsageError(usage);
      const template = (values.template as string | undefined) ?? 'credits';
      if (!(CATALOG_TEMPLATES as readonly string[]).includes(template)) {
        throw new InputError(`unknown template '${template}'; templates: ${CATALOG_TEMPLATES.join(', ')}`, 'unknown_template');
      }
      const out = (values.out as string | undefined) ?? 'tollgate.catalog.json';
      if (existsSync(out) && !values.force) throw new InputError(`${out} already exists; use --force to overwrite it`, 'file_exists');
      try {
        writeFileSync(out, `${JSON.stringify(CATALOG_TEMPLATE_DOCUMENTS[template as CatalogTemplate], null, 2)}\n`);
      } catch (err) {
        throw new InputError(`cannot write ${out}: ${(err as Error).message}`, 'cannot_write');
      }
      emit(json, `Wrote the ${template} catalog template to ${out}.\nEdit it, then: tollgate push ${out} --project <id> --dry-run\n`, { file: out, template });
      return 0;
    }
    case 'projects': {
      if (sub === 'list') {
        const usage = 'usage: tollgate projects list';
        if (parse(rest, {}, usage).positionals.length) throw new UsageError(usage);
        return withCtx(async (ctx) => {
          const rows = await projectsRepository.listProjects(ctx.db);
          const projects = rows.map((p) => ({ id: p.id, name: p.name, catalog_version: Number(p.catalog_version), created_at: iso(p.created_at) }));
          const text = projects.length
            ? `${projects.map((p) => `${p.id.padEnd(24)} ${p.name.padEnd(24)} catalog v${p.catalog_version}  created ${p.created_at}`).join('\n')}\n`
            : 'No projects yet: tollgate projects create <name>\n';
          emit(json, text, { projects });
          return 0;
        });
      }
      const usage = 'usage: tollgate projects create <name> [--id <slug>] | tollgate projects list';
      const { values, positionals } = parse(rest, { id: { type: 'string' } }, usage);
      if (sub !== 'create' || positionals.length !== 1) throw new UsageError(usage);
      const name = positionals[0] as string;
      return withCtx(async (ctx) => {
        const id = (values.id as string | undefined) ?? undefined;
        // Checked first: createProject on an existing project would mint a key pair nobody sees.
        const exists = id ? await getProject(ctx, id).then(() => true, () => false) : false;
        if (exists) throw new InputError(`project '${id}' already exists; use "tollgate keys create --project ${id}"`, 'project_exists');
        const r = await createProject(ctx, { name, id });
        if (!r.created) throw new InputError(`project '${r.project.id}' already exists; use "tollgate keys create --project ${r.project.id}"`, 'project_exists');
        emit(
          json,
          `Project ${r.project.id} created.\n  secret key:      ${r.secretKey.key}\n  publishable key: ${r.publishableKey.key}\nKeys are stored hashed and shown only once.\n`,
          { project: { id: r.project.id, name: r.project.name }, secret_key: r.secretKey.key, publishable_key: r.publishableKey.key },
        );
        return 0;
      });
    }
    case 'keys': {
      if (sub === 'list' || sub === 'revoke') {
        // The one-line usage stays as it was; `tollgate keys --help` lists --mode.
        const usage = sub === 'list' ? 'usage: tollgate keys list --project <id>' : 'usage: tollgate keys revoke <key-id> --project <id>';
        const { values, positionals } = parse(rest, { project: { type: 'string' }, mode: { type: 'string' } }, usage);
        const named = values.project as string | undefined;
        if (!named || positionals.length !== (sub === 'list' ? 0 : 1)) throw new UsageError(usage);
        const mode = parseMode(values.mode, usage);
        return withCtx(async (ctx) => {
          const project = await projectOfMode(ctx, named, mode);
          if (sub === 'revoke') {
            const id = positionals[0] as string;
            const found = (await listKeys(ctx, project)).some((k) => k.id === id);
            if (!found) throw new InputError(`key '${id}' not found in project '${project}'`, 'key_not_found');
            const key = await ctx.db.tx(async (q) => {
              const k = await revokeKey(ctx, q, project, id);
              await audit(q, { projectId: project, keyId: 'cli', kind: 'operator', scopes: ['full'], actor: 'cli' }, { action: 'key.revoked', target: k.id }, ctx.clock.now());
              return k;
            });
            emit(json, `Revoked key ${key.id} (${key.kind}, ${key.preview}) at ${iso(key.revoked_at)}.\n`, {
              id: key.id,
              kind: key.kind,
              preview: key.preview,
              revoked_at: iso(key.revoked_at),
            });
            return 0;
          }
          const keys = (await listKeys(ctx, project)).map((k) => ({
            id: k.id,
            mode: k.mode,
            kind: k.kind,
            preview: k.preview,
            scopes: k.scopes,
            name: k.name,
            created_at: iso(k.created_at),
            revoked_at: iso(k.revoked_at),
            last_used_at: iso(k.last_used_at),
          }));
          const text = keys.length
            ? `${keys
                .map((k) => `${k.id}  ${k.kind.padEnd(11)} ${k.scopes.join(',').padEnd(20)} created ${k.created_at}  ${k.revoked_at ? `revoked ${k.revoked_at}` : 'active'}  last used ${k.last_used_at ?? 'never'}  ${k.preview}`)
                .join('\n')}\n(last use is recorded to within 5 minutes)\n`
            : `No keys in ${project}.\n`;
          emit(json, text, { project, keys });
          return 0;
        });
      }
      const usage = 'usage: tollgate keys create --project <id> [--publishable] [--scopes full,read,secrets:reveal]';
      const { values, positionals } = parse(
        rest,
        { project: { type: 'string' }, mode: { type: 'string' }, publishable: { type: 'boolean' }, scopes: { type: 'string' } },
        usage,
      );
      const project = values.project as string | undefined;
      if (sub !== 'create' || !project || positionals.length) throw new UsageError(usage);
      const mode = parseMode(values.mode, usage);
      const scopes = parseScopes(values.scopes as string | undefined);
      return withCtx(async (ctx) => {
        await requireProject(ctx, project);
        const caller = { projectId: project, keyId: 'cli', kind: 'operator' as const, scopes: ['full'], actor: 'cli' };
        const k = await ctx.db.tx(async (q) => {
          const created = await createModeKey(ctx, q, caller, { kind: values.publishable ? 'publishable' : 'secret', scopes, name: 'cli', mode });
          await audit(q, { ...caller, projectId: created.project_id }, { action: 'key.created', target: created.id, details: { kind: created.kind, scopes: created.scopes, mode } }, ctx.clock.now());
          return created;
        });
        emit(json, `${k.key}\n`, { id: k.id, kind: k.kind, mode: k.mode, project: k.project_id, scopes: k.scopes, key: k.key });
        return 0;
      });
    }
    case 'settings': {
      const usage = 'usage: tollgate settings show --project <id> | tollgate settings set --project <id> [flags] (tollgate settings --help)';
      const flags: FlagSpec = {
        project: { type: 'string' },
        'rate-limit-per-key': { type: 'string' },
        'rate-limit-per-customer': { type: 'string' },
        'brand-name': { type: 'string' },
        'brand-color': { type: 'string' },
        'logo-url': { type: 'string' },
        locale: { type: 'string' },
        'cors-origins': { type: 'string' },
      };
      const { values, positionals } = parse(rest, sub === 'show' ? { project: { type: 'string' } } : flags, usage);
      const project = values.project as string | undefined;
      if ((sub !== 'show' && sub !== 'set') || !project || positionals.length) throw new UsageError(usage);
      const body = sub === 'set' ? settingsPatch(values) : undefined;
      if (body && Object.keys(body).length === 0) throw new UsageError(`nothing to set; ${usage}`);
      return withCtx(async (ctx) => {
        await requireProject(ctx, project);
        const view = body
          ? await ctx.db.tx((q) => updateProject(ctx, q, { projectId: project, keyId: 'cli', kind: 'operator', scopes: ['full'], actor: 'cli' }, body))
          : await getProjectView(ctx, project);
        // The CORS answers of running servers are cached under 'cors' (src/http/cors.ts).
        if (body) await invalidate(ctx.db, [{ scope: 'cors' }]);
        const settings = { project, rate_limit: view.rate_limit, branding: view.branding, locale: view.locale, cors_origins: view.cors_origins };
        const rl = view.rate_limit;
        const limit = (v: number | null, d: number) => (v === null ? `${d === 0 ? 'unlimited' : `${d}/s`} (server default)` : v === 0 ? 'unlimited' : `${v}/s`);
        const text = [
          `${body ? 'Saved. ' : ''}Settings of ${project}:`,
          `  rate limit per key       ${limit(rl.per_key_per_second, rl.server_defaults.per_key_per_second)}`,
          `  rate limit per customer  ${limit(rl.per_customer_per_second, rl.server_defaults.per_customer_per_second)}`,
          `  brand name               ${view.branding.name ?? '(catalog theme)'}`,
          `  brand color              ${view.branding.primary_color ?? '(catalog theme)'}`,
          `  logo URL                 ${view.branding.logo_url ?? '(catalog theme)'}`,
          `  locale                   ${view.locale ?? '(catalog)'}`,
          `  CORS origins             ${view.cors_origins.join(', ') || '(none)'}`,
          '',
        ].join('\n');
        emit(json, text, settings);
        return 0;
      });
    }
    case 'operators': {
      const usage = 'usage: tollgate operators link';
      if (sub !== 'link' || parse(rest, {}, usage).positionals.length) throw new UsageError(usage);
      return withCtx(async (ctx) => {
        const token = await firstRunToken(ctx, { evenWithOperators: true });
        const url = `${ctx.config.publicUrl}/dashboard/#/setup/${token}`;
        emit(json, `Open this one-time link (valid 24 h) to create an operator:\n  ${url}\n`, { url });
        return 0;
      });
    }
    case 'push': {
      const usage = 'usage: tollgate push <catalog.json> --project <id> [--mode test|live] [--dry-run] [--expect-version <n>]';
      const { values, positionals } = parse(
        rest,
        { project: { type: 'string' }, mode: { type: 'string' }, 'dry-run': { type: 'boolean' }, 'expect-version': { type: 'string' } },
        usage,
      );
      const file = sub;
      const named = values.project as string | undefined;
      if (!file || file.startsWith('--') || !named || positionals.length) throw new UsageError(usage);
      const mode = parseMode(values.mode, usage);
      const expectRaw = values['expect-version'] as string | undefined;
      if (expectRaw !== undefined && !/^\d{1,15}$/.test(expectRaw)) {
        throw new UsageError(`--expect-version must be a catalog version (the number --dry-run shows), got '${expectRaw}'; ${usage}`);
      }
      const expectedVersion = expectRaw === undefined ? undefined : Number(expectRaw);
      const doc = readCatalogFile(file);
      const catalog = validateCatalog(doc);
      const counts = { features: catalog.features.length, plans: catalog.plans.length, credit_packs: catalog.credit_packs.length, products: catalog.products.length };
      if (values['dry-run']) {
        return withCtx(async (ctx) => {
          const project = await projectOfMode(ctx, named, mode);
          const current = await getCatalog(ctx, project);
          const diff = diffCatalogs(current.catalog, catalog);
          const lines = describeDiff(diff);
          if (expectedVersion !== undefined && expectedVersion !== current.version) throw staleCatalog(project, current.version, expectedVersion);
          const text =
            `Catalog is valid: ${counts.features} features, ${counts.plans} plans, ${counts.credit_packs} credit packs, ${counts.products} products (dry run, nothing pushed).\n` +
            (lines.length
              ? `Changes against ${project}'s catalog version ${current.version}:\n${lines.map((l) => `  ${l}\n`).join('')}`
              : `No changes against ${project}'s catalog version ${current.version}.\n`) +
            `To push exactly these changes (refused if the catalog changes first): tollgate push ${file} --project ${named}${mode === 'live' ? ' --mode live' : ''} --expect-version ${current.version}\n`;
          if (!json) process.stdout.write(text);
          const { result, lines: stripe } = await captured(json, () => syncStripeAfterPush(ctx, project, { dryRun: true, catalog }));
          if (json) emit(true, '', { dry_run: true, project, current_version: current.version, counts, diff, stripe });
          return result;
        });
      }
      return withCtx(async (ctx) => {
        const project = await projectOfMode(ctx, named, mode);
        const r = await pushCatalog(ctx, project, doc as never, 'cli', { expectedVersion }).catch(async (err: unknown) => {
          if (err instanceof AppError && err.code === 'conflict' && expectedVersion !== undefined) {
            throw staleCatalog(project, (await getCatalog(ctx, project)).version, expectedVersion);
          }
          throw err;
        });
        if (!json) {
          process.stdout.write(
            mode === 'live'
              ? `Pushed catalog version ${r.version} to ${project} (live mode now has its own catalog).\n`
              : `Pushed catalog version ${r.version} to ${project}.\n`,
          );
        }
        const { result, lines: stripe } = await captured(json, () => syncStripeAfterPush(ctx, project, { dryRun: false }));
        if (json) emit(true, '', { project, version: r.version, counts, stripe });
        return result;
      });
    }
    case 'import': {
      if (sub !== undefined && (FILE_SHAPES as readonly string[]).includes(sub)) return importFileCommand(sub as FileShape, rest, json);
      const usage = `usage: tollgate import stripe --project <id> [--bind-prices <plan>=price_...,...] | tollgate import ${FILE_SHAPES.join('|')} <file> ...`;
      const { values, positionals } = parse(rest, { project: { type: 'string' }, 'bind-prices': { type: 'string' } }, usage);
      const project = values.project as string | undefined;
      if (sub !== 'stripe' || !project || positionals.length) throw new UsageError(usage);
      return withCtx(async (ctx) => {
        await requireProject(ctx, project);
        const bound = await bindStripePrices(ctx, project, values['bind-prices'] as string | undefined);
        const { result, lines } = await captured(json, async () => {
          if (bound.length) process.stdout.write(`Stripe prices bound: ${bound.map((b) => `${b.item_id}=${b.price}`).join(', ')}\n`);
          return stripeCommand(ctx, 'import', project);
        });
        if (json) emit(true, '', { project, price_bindings: bound, output: lines });
        return result;
      });
    }
    case 'reconcile': {
      const usage = `usage: tollgate ${cmd} stripe --project <id>`;
      const { values, positionals } = parse(rest, { project: { type: 'string' } }, usage);
      const project = values.project as string | undefined;
      if (sub !== 'stripe' || !project || positionals.length) throw new UsageError(usage);
      return withCtx(async (ctx) => {
        await requireProject(ctx, project);
        const { result, lines } = await captured(json, () => stripeCommand(ctx, cmd, project));
        if (json) emit(true, '', { project, output: lines });
        return result;
      });
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
        if (json) {
          emit(true, '', { project, ...report });
          return 0;
        }
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
      const { values, positionals } = parse(rest, { batch: { type: 'string' } }, usage);
      if (sub !== 'rotate' || positionals.length) throw new UsageError(usage);
      const batchSize = Number(values.batch ?? 500);
      if (!Number.isInteger(batchSize) || batchSize < 1) throw new ConfigError('--batch must be a positive integer');
      return withCtx(async (ctx) => {
        const newest = ctx.config.encryptionKeys[0]?.id;
        const bar = json
          ? null
          : new cliProgress.SingleBar({ format: `  re-encrypting under '${newest}' [{bar}] {value}/{total}`, hideCursor: true }, cliProgress.Presets.shades_classic);
        const r = await rotateSecrets(ctx, {
          batchSize,
          onStart: (total) => bar?.start(total, 0),
          onProgress: (done) => bar?.update(done),
        });
        bar?.stop();
        emit(json, `Re-encrypted ${r.rotated} of ${r.total} secret(s) under key '${newest}'.\n`, { key: newest, rotated: r.rotated, total: r.total, failed: r.failed });
        if (!json) for (const f of r.failed) process.stderr.write(`  could not re-encrypt ${f.id}: ${f.error}\n`);
        return r.failed.length ? 1 : 0;
      });
    }
    default:
      throw new UsageError(`unknown command '${cmd}'; run "tollgate --help"`);
  }
}

/** The error's code for `--json` output: `{"error":{"code","message"}}`. */
export function errorCode(err: unknown): string {
  if (err instanceof DataDirLockedError) return 'data_dir_locked';
  if (err instanceof UsageError) return 'usage_error';
  if (err instanceof ConfigError) return 'config_error';
  if (err instanceof InputError) return err.code;
  if (err instanceof FileError) return 'invalid_input';
  if (err instanceof AppError) return err.code;
  return 'internal_error';
}

/** What the entry point writes to stderr for an error: one line, or one JSON object with --json. */
export function errorOutput(err: unknown, json: boolean): string {
  if (!json) return `${errorMessage(err)}\n`;
  const known = errorCode(err) !== 'internal_error';
  return `${JSON.stringify({ error: { code: errorCode(err), message: known ? errorMessage(err) : String((err as Error).message ?? err) } })}\n`;
}

/** The message a user sees for an error: never a stack trace for a mistake of theirs. */
export function errorMessage(err: unknown): string {
  if (
    err instanceof UsageError ||
    err instanceof InputError ||
    err instanceof FileError ||
    err instanceof ConfigError ||
    err instanceof AppError ||
    err instanceof DataDirLockedError
  )
    return err.message;
  return (err as Error).stack ?? String(err);
}

/** Exit codes: 0 ok, 1 usage error, 2 not found / validation, 3 unexpected failure, 4 embedded database in use. */
export function exitCode(err: unknown): number {
  if (err instanceof DataDirLockedError) return 4;
  if (err instanceof UsageError || err instanceof ConfigError) return 1;
  if (err instanceof InputError || err instanceof FileError || err instanceof AppError) return 2;
  return 3;
}

const isEntry = process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/').split('/').pop() ?? '');
if (isEntry) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code >= 0) process.exit(code);
    },
    (err) => {
      process.stderr.write(errorOutput(err, wantsJson(process.argv.slice(2))));
      process.exit(exitCode(err));
    },
  );
}
