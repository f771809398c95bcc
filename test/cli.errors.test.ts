import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { errorMessage, errorOutput, exitCode, main } from '../src/cli.ts';
import { CatalogSchema } from '../src/domain/catalog.ts';
import { describeDiff, diffCatalogs } from '../src/domain/catalog-diff.ts';
import { CATALOG_TEMPLATE_DOCUMENTS, CATALOG_TEMPLATES, stripCatalogComments } from '../src/domain/catalog-templates.ts';
import { TEST_ENCRYPTION_KEY } from './support/harness.ts';

// In-process: main(argv) throws what the entry point turns into a message and an exit code.
const dir = mkdtempSync(join(tmpdir(), 'tollgate-cli-err-'));
const saved = { ...process.env };
afterAll(() => {
  process.env = saved;
  rmSync(dir, { recursive: true, force: true });
});
async function fails(...argv: string[]): Promise<{ code: number; message: string }> {
  try {
    await main(argv);
  } catch (err) {
    return { code: exitCode(err), message: errorMessage(err) };
  }
  throw new Error(`expected ${argv.join(' ')} to fail`);
}

describe('tollgate CLI mistakes', () => {
  it('rejects an unknown flag as a usage error (exit 1), naming it', async () => {
    const r = await fails('keys', 'create', '--project', 'x', '--bogus');
    expect(r.code).toBe(1);
    expect(r.message).toContain("Unknown option '--bogus'");
    expect(r.message).not.toContain('    at ');
  });
  it('rejects an unknown scope before touching the database (exit 2)', async () => {
    const r = await fails('keys', 'create', '--project', 'x', '--scopes', 'read,bogus');
    expect(r).toEqual({ code: 2, message: "unknown scope(s) 'bogus'; valid scopes: full, read, secrets:reveal" });
  });
  it('says a catalog file is missing or not JSON (exit 2), without a stack trace', async () => {
    const missing = await fails('push', join(dir, 'nope.json'), '--project', 'x');
    expect(missing.code).toBe(2);
    expect(missing.message).toBe(`cannot read ${join(dir, 'nope.json')}: no such file`);
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{"credit_packs": [');
    const bad = await fails('push', broken, '--project', 'x');
    expect(bad.code).toBe(2);
    expect(bad.message).toMatch(/broken\.json is not valid JSON: /);
  });
  it('asks for the missing --project (exit 1)', async () => {
    const r = await fails('push', join(dir, 'c.json'));
    expect(r).toEqual({ code: 1, message: 'usage: tollgate push <catalog.json> --project <id> [--mode test|live] [--dry-run] [--expect-version <n>]' });
  });
});

describe('issue 11 item 15: every CLI mistake is one line and a non-zero exit', () => {
  it('refuses unknown flags and stray arguments on every command (exit 1)', async () => {
    for (const argv of [
      ['projects', 'create', 'Shop', '--bogus'],
      ['push', 'c.json', '--project', 'x', '--force'],
      ['vault', 'rotate', '--bogus'],
      ['operators', 'link', '--bogus'],
      ['operators', 'link', 'extra'],
      ['migrate', '--bogus'],
      ['import', 'stripe', '--project', 'x', '--bogus'],
    ]) {
      const r = await fails(...argv);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(r.message, argv.join(' ')).toMatch(/^(Unknown option '--[a-z]+'; )?usage: tollgate [^\n]+$/);
      expect(r.message).not.toContain('    at ');
    }
  });

  it('keys create / push for a project that does not exist: one line, exit 2 (embedded database)', async () => {
    const data = join(dir, 'data');
    Object.assign(process.env, { TOLLGATE_DATA_DIR: data, TOLLGATE_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY, LOG_LEVEL: 'silent', TOLLGATE_DEMO: 'false' });
    delete process.env.DATABASE_URL;
    expect(await fails('keys', 'create', '--project', 'nope')).toEqual({ code: 2, message: "project 'nope' not found" });
    const file = join(dir, 'ok.json');
    writeFileSync(file, JSON.stringify({ credit_packs: [{ id: 'small', name: 'Small', credits: 5, price: { amount: 300, currency: 'eur' } }] }));
    expect(await fails('push', file, '--project', 'nope')).toEqual({ code: 2, message: "project 'nope' not found" });
    expect(await fails('push', file, '--project', 'nope', '--dry-run')).toEqual({ code: 2, message: "project 'nope' not found" });
    const broken = join(dir, 'broken2.json');
    writeFileSync(broken, '{"credit_packs": [');
    const bad = await fails('push', broken, '--project', 'nope');
    expect(bad.code).toBe(2);
    expect(bad.message.split('\n')).toHaveLength(1);
    const missing = await fails('push', join(dir, 'missing.json'), '--project', 'nope');
    expect(missing).toEqual({ code: 2, message: `cannot read ${join(dir, 'missing.json')}: no such file` });
  }, 120_000);
});

describe('issue 13: help, version and usage mistakes', () => {
  async function captureStdout(argv: string[]): Promise<{ code: number; stdout: string }> {
    const chunks: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((c: string) => {
      chunks.push(String(c));
      return true;
    }) as typeof process.stdout.write;
    try {
      const code = await main(argv);
      return { code, stdout: chunks.join('') };
    } finally {
      process.stdout.write = write;
    }
  }

  it('prints the package version, as text and as JSON', async () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect(await captureStdout(['--version'])).toEqual({ code: 0, stdout: `tollgate ${version}\n` });
    expect(JSON.parse((await captureStdout(['--version', '--json'])).stdout)).toEqual({ version });
  });

  it('prints each command its flags with --help', async () => {
    const keys = await captureStdout(['keys', '--help']);
    expect(keys.code).toBe(0);
    for (const flag of ['keys create', 'keys list', 'keys revoke', '--project', '--publishable', '--scopes']) expect(keys.stdout).toContain(flag);
    const push = await captureStdout(['push', '--help']);
    for (const flag of ['--project', '--dry-run']) expect(push.stdout).toContain(flag);
    const init = await captureStdout(['init', '--help']);
    for (const flag of ['--template', '--out', '--force', 'credits', 'tiers', 'shop']) expect(init.stdout).toContain(flag);
  });

  it('an unknown command or flag, a missing --project: one line, exit 1, and with --json the error object', async () => {
    expect(await fails('frobnicate')).toEqual({ code: 1, message: `unknown command 'frobnicate'; run "tollgate --help"` });
    expect(await fails('keys', 'list')).toEqual({ code: 1, message: 'usage: tollgate keys list --project <id>' });
    expect(await fails('keys', 'revoke', 'key_1')).toEqual({ code: 1, message: 'usage: tollgate keys revoke <key-id> --project <id>' });
    expect((await fails('projects', 'list', '--bogus')).message).toBe("Unknown option '--bogus'; usage: tollgate projects list");
    try {
      await main(['frobnicate', '--json']);
      throw new Error('expected a failure');
    } catch (err) {
      expect(JSON.parse(errorOutput(err, true))).toEqual({ error: { code: 'usage_error', message: `unknown command 'frobnicate'; run "tollgate --help"` } });
    }
  });

  it('init: an unknown template (exit 2), refuses to overwrite without --force (exit 2), writes with it', async () => {
    const out = join(dir, 'init.catalog.json');
    expect(await fails('init', '--template', 'bogus', '--out', out)).toEqual({ code: 2, message: 'unknown template \'bogus\'; templates: credits, tiers, shop' });
    expect(existsSync(out)).toBe(false);
    const written = await captureStdout(['init', '--template', 'shop', '--out', out, '--json']);
    expect(JSON.parse(written.stdout)).toEqual({ file: out, template: 'shop' });
    const before = readFileSync(out, 'utf8');
    expect(await fails('init', '--template', 'tiers', '--out', out)).toEqual({ code: 2, message: `${out} already exists; use --force to overwrite it` });
    expect(readFileSync(out, 'utf8')).toBe(before);
    expect((await captureStdout(['init', '--template', 'tiers', '--out', out, '--force'])).code).toBe(0);
    expect(readFileSync(out, 'utf8')).toContain('"trial_days": 14');
  });

  it('every template is a valid catalog once its "//" comments are dropped, and carries comments', () => {
    for (const t of CATALOG_TEMPLATES) {
      const doc = CATALOG_TEMPLATE_DOCUMENTS[t];
      expect(JSON.stringify(doc), t).toContain('"//"');
      expect(() => CatalogSchema.parse(doc), t).toThrow();
      const c = CatalogSchema.parse(stripCatalogComments(doc));
      if (t === 'credits') expect(c.credit_packs.length).toBeGreaterThan(0);
      if (t === 'tiers') expect(c.plans.some((p) => p.trial_days > 0)).toBe(true);
      if (t === 'shop') expect(c.products.length).toBeGreaterThan(0);
    }
  });

  it('describes a catalog diff: added, removed and changed items with their fields, and settings', () => {
    const before = CatalogSchema.parse({
      features: [{ id: 'calls', type: 'metered' }],
      plans: [{ id: 'basic', name: 'Basic', price: { amount: 900, currency: 'eur' } }],
      credit_packs: [{ id: 'small', name: 'Small', credits: 5, price: { amount: 300, currency: 'eur' } }],
    });
    const after = CatalogSchema.parse({
      signup_credits: 3,
      features: [{ id: 'calls', type: 'metered' }],
      plans: [{ id: 'basic', name: 'Basic', price: { amount: 1200, currency: 'eur' } }],
      products: [{ id: 'mug', name: 'Mug', price: { amount: 1200, currency: 'eur' } }],
    });
    expect(describeDiff(diffCatalogs(before, after))).toEqual([
      '~ plan basic',
      '    price: 900 EUR → 1200 EUR',
      '- credit pack small',
      '+ product mug',
      '~ signup_credits: 0 → 3',
    ]);
    expect(diffCatalogs(before, before)).toEqual({ items: [], settings: [] });
  });
});
