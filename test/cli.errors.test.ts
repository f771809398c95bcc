import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { errorMessage, exitCode, main } from '../src/cli.ts';
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
    expect(r).toEqual({ code: 1, message: 'usage: tollgate push <catalog.json> --project <id> [--dry-run]' });
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
