import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';
import { SDK_DIR } from './support/sdk-build.ts';

const run = promisify(execFile);
// Under `npm test` the environment carries the repository's npm settings (npm_config_local_prefix ...):
// the child npm must see the temporary folder only.
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
const npm = (args: string[], cwd: string) =>
  run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, env: { ...cleanEnv, npm_config_update_notifier: 'false' } });

let h: Harness;
let base: string;
let p: TestProject;
let dir: string;
let files: string[];
beforeAll(async () => {
  h = await createHarness();
  base = await h.listen();
  p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
  dir = mkdtempSync(join(tmpdir(), 'tollgate-sdk-pack-'));
  // global-setup built sdk/dist; pack that build as it is (prepack would rebuild it under the other test files).
  const packed = JSON.parse((await npm(['pack', '--json', '--ignore-scripts', '--pack-destination', dir], SDK_DIR)).stdout) as {
    filename: string;
    files: { path: string }[];
  }[];
  files = packed[0]!.files.map((f) => f.path).sort();
  const app = join(dir, 'app');
  await run('mkdir', [app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'sdk-consumer', version: '1.0.0', private: true, type: 'module' }));
  await npm(['install', '--offline', join(dir, packed[0]!.filename)], app);
}, 180_000);
afterAll(async () => {
  await h?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('npm pack of sdk/', () => {
  it('ships the ESM build with its .d.ts (schema types included), not the sources', () => {
    expect(files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/schema.d.ts', 'dist/webhooks.js']));
    expect(files.filter((f) => !f.startsWith('dist/') && f !== 'package.json' && f !== 'README.md')).toEqual([]);
  });

  it('installs offline into an empty folder with no dependencies and runs in plain node against a live server', async () => {
    const app = join(dir, 'app');
    expect(readdirSync(join(app, 'node_modules')).filter((n) => !n.startsWith('.'))).toEqual(['@tollgate']);
    const script = `
      import { Tollgate, InsufficientCreditsError } from '@tollgate/sdk';
      const tg = new Tollgate({ apiKey: process.env.TG_KEY, baseUrl: process.env.TG_URL });
      await tg.customers.create({ id: 'packed-1' });
      const d = await tg.credits.deduct('packed-1', { amount: 3 });
      let e;
      try { await tg.credits.deduct('packed-1', { amount: 500 }); } catch (err) { e = err; }
      console.log(JSON.stringify({ balance: d.balance, error: e instanceof InsufficientCreditsError, required: e.required, available: e.available }));
    `;
    const out = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: app, env: { ...process.env, TG_KEY: p.key, TG_URL: base } });
    expect(JSON.parse(out.stdout)).toEqual({ balance: 7, error: true, required: 500, available: 7 });
    expect((await p.call('GET', '/v1/customers/packed-1/credits')).body).toMatchObject({ balance: 7 });
  });

  it('type-checks a TypeScript consumer against the shipped .d.ts, and rejects a wrong body', async () => {
    const app = join(dir, 'app');
    writeFileSync(
      join(app, 'consumer.ts'),
      `import { Tollgate, type Reply } from '@tollgate/sdk';
const tg = new Tollgate({ apiKey: 'sk_test_x' });
export async function f(): Promise<number> {
  const b: Reply<'GET', '/v1/customers/{id}/credits'> = await tg.credits.balance('u1');
  const hold = await tg.request('POST', '/v1/customers/{id}/credits/holds', { params: { path: { id: 'u1' } }, body: { amount: 5 } });
  // @ts-expect-error amount is a number
  await tg.credits.deduct('u1', { amount: 'five' });
  // @ts-expect-error the path needs its id
  await tg.request('GET', '/v1/customers/{id}');
  return b.available + hold.amount;
}
`,
    );
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const checked = await run(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', 'consumer.ts'], {
      cwd: app,
    }).catch((e: { stdout: string }) => e);
    expect(checked.stdout).toBe('');
  });
});
