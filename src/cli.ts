import { readFileSync } from 'node:fs';
import cliProgress from 'cli-progress';
import { ConfigError, loadConfig } from './config.ts';
import { AppError } from './domain/errors.ts';
import { openDb } from './db/db.ts';
import { migrate } from './db/migrate.ts';
import { seedDemo } from './demo/seed.ts';
import { pushCatalog, validateCatalog } from './modules/catalog/catalog.service.ts';
import { firstRunToken } from './modules/dashboard/operators.service.ts';
import { createKey, createProject } from './modules/projects/projects.service.ts';
import { rotateSecrets } from './modules/vault/vault.service.ts';
import { createTollgate } from './server.ts';

const HELP = `tollgate — self-hosted monetization server

Usage:
  tollgate start                          serve the API (same as npm start)
  tollgate migrate                        apply database migrations
  tollgate projects create <name> [--id <slug>]
                                          create a project; prints its keys (shown once)
  tollgate keys create --project <id> [--publishable] [--scopes full,read,secrets:reveal]
  tollgate operators link                 print a one-time link that creates a dashboard operator
  tollgate push <catalog.json> --project <id> [--dry-run]
                                          validate and push a catalog file
  tollgate vault rotate [--batch <n>]     re-encrypt every secret under the newest key of
                                          TOLLGATE_ENCRYPTION_KEY (resumable: run it again)

Environment: PORT, DATABASE_URL, TOLLGATE_DATA_DIR, TOLLGATE_DEMO_KEY, TOLLGATE_ENCRYPTION_KEY, ...
`;

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

async function withCtx<T>(fn: (ctx: Awaited<ReturnType<typeof createTollgate>>['ctx']) => Promise<T>): Promise<T> {
  const config = { ...loadConfig(), runnerIntervalMs: 0 };
  const tg = await createTollgate({ config, runner: false });
  try {
    return await fn(tg.ctx);
  } finally {
    await tg.close();
  }
}

async function start(): Promise<void> {
  const config = loadConfig();
  // The dashboard's static build (npm start builds it too); without vite installed it stays unbuilt.
  await import('../web/dashboard/build.mjs').then((m) => m.buildDashboard()).catch(() => undefined);
  const started = Date.now();
  const tg = await createTollgate({
    config,
    logger: { level: config.logLevel, transport: undefined },
  });
  const demo = config.demo ? await seedDemo(tg.ctx) : [];
  const setup = await firstRunToken(tg.ctx);
  await tg.app.listen({ port: config.port, host: config.host });
  const lines = [
    '',
    `  Tollgate is running on ${config.publicUrl}  (${tg.ctx.db.kind === 'pglite' ? `embedded database in ${config.dataDir}` : 'PostgreSQL'}, ${Date.now() - started} ms)`,
    `  Dashboard: ${config.publicUrl}/dashboard/`,
    `  API reference: ${config.publicUrl}/docs   OpenAPI: ${config.publicUrl}/openapi.json`,
  ];
  if (setup) {
    lines.push(`  First run: create the first operator account with this one-time link (valid 24 h):`, `    ${config.publicUrl}/dashboard/#/setup/${setup}`);
  }
  if (tg.ctx.db.kind === 'pglite') lines.push('  The embedded database is for development: production wants PostgreSQL (DATABASE_URL).');
  if (demo.length) {
    lines.push('', '  Demo projects (sandbox provider):');
    for (const d of demo) lines.push(`    ${d.project.padEnd(12)} secret ${d.secretKey}   publishable ${d.publishableKey}`);
  }
  lines.push('');
  process.stdout.write(`${lines.join('\n')}\n`);
  const shutdown = async () => {
    await tg.close();
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, sub, ...rest] = argv;
  const args = [sub ?? '', ...rest];
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
      const config = loadConfig();
      const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: `${config.dataDir}/pgdata` });
      const applied = await migrate(db, (m) => process.stdout.write(`  ${m}\n`));
      process.stdout.write(applied.length ? `Applied ${applied.length} migration(s).\n` : 'Database is up to date.\n');
      await db.close();
      return 0;
    }
    case 'projects': {
      if (sub !== 'create' || !rest[0]) throw new ConfigError('usage: tollgate projects create <name> [--id <slug>]');
      const name = rest[0];
      return withCtx(async (ctx) => {
        const r = await createProject(ctx, { name, id: flag(rest, 'id') });
        if (!r.created) throw new ConfigError(`project '${r.project.id}' already exists; use "tollgate keys create --project ${r.project.id}"`);
        process.stdout.write(
          `Project ${r.project.id} created.\n  secret key:      ${r.secretKey.key}\n  publishable key: ${r.publishableKey.key}\nKeys are stored hashed and shown only once.\n`,
        );
        return 0;
      });
    }
    case 'keys': {
      const project = flag(args, 'project');
      if (sub !== 'create' || !project) throw new ConfigError('usage: tollgate keys create --project <id> [--publishable] [--scopes full,read]');
      return withCtx(async (ctx) => {
        const publishable = args.includes('--publishable');
        const scopes = flag(args, 'scopes')?.split(',') ?? ['full'];
        const k = await createKey(ctx.db, project, { kind: publishable ? 'publishable' : 'secret', scopes, name: 'cli' });
        process.stdout.write(`${k.key}\n`);
        return 0;
      });
    }
    case 'operators': {
      if (sub !== 'link') throw new ConfigError('usage: tollgate operators link');
      return withCtx(async (ctx) => {
        const token = await firstRunToken(ctx, { evenWithOperators: true });
        process.stdout.write(`Open this one-time link (valid 24 h) to create an operator:\n  ${ctx.config.publicUrl}/dashboard/#/setup/${token}\n`);
        return 0;
      });
    }
    case 'push': {
      const file = sub;
      const project = flag(args, 'project');
      if (!file || !project) throw new ConfigError('usage: tollgate push <catalog.json> --project <id> [--dry-run]');
      const doc = JSON.parse(readFileSync(file, 'utf8')) as unknown;
      const catalog = validateCatalog(doc);
      if (args.includes('--dry-run')) {
        process.stdout.write(
          `Catalog is valid: ${catalog.features.length} features, ${catalog.plans.length} plans, ${catalog.credit_packs.length} credit packs, ${catalog.products.length} products (dry run, nothing pushed).\n`,
        );
        return 0;
      }
      return withCtx(async (ctx) => {
        const r = await pushCatalog(ctx, project, doc as never, 'cli');
        process.stdout.write(`Pushed catalog version ${r.version} to ${project}.\n`);
        return 0;
      });
    }
    case 'vault': {
      if (sub !== 'rotate') throw new ConfigError('usage: tollgate vault rotate [--batch <n>]');
      const batchSize = Number(flag(args, 'batch') ?? 500);
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
      return 2;
  }
}

const isEntry = process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/').split('/').pop() ?? '');
if (isEntry) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code >= 0) process.exit(code);
    },
    (err) => {
      process.stderr.write(
        `${err instanceof ConfigError || err instanceof AppError ? err.message : ((err as Error).stack ?? String(err))}\n`,
      );
      process.exit(1);
    },
  );
}
